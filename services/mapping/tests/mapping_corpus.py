"""A labelled corpus of column sets: real-looking names in eight languages, generated values.

Every column set is seeded, so the corpus is the same on every run. Each set has a language, a
layout (cross-section, panel, experiment, RD, IV) and the true role of every column. Names are
drawn from what people write (`キャンペーン配信`, `recibio_descuento`, `Gutschein_erhalten`,
`isTreated`) and restyled (snake, camel, upper case, full width, spaces, abbreviations), so the
mapper sees names that are not verbatim dictionary entries.

Used by ``test_mapping_corpus.py`` (targets) and ``bench/mapping/run.py`` (the numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

LANGUAGES = ("en", "ja", "zh", "ko", "es", "fr", "de", "pt")
SETS_PER_LANGUAGE = 24
TARGET_ROLES = ("treatment", "outcome", "unit", "time")


@dataclass(frozen=True)
class ColumnSet:
    """One labelled dataset: its frame and the true role of each column."""

    key: str
    language: str
    layout: str
    frame: pd.DataFrame
    labels: dict[str, str]  # column -> role ('covariate', 'exclude', 'region', …)

    def column_of(self, role: str) -> str | None:
        """The column that truly plays ``role``, if any."""
        return next((c for c, r in self.labels.items() if r == role), None)


# Names people give each role, per language. Latin names are restyled at random below.
NAMES: dict[str, dict[str, list[str]]] = {
    "en": {
        "treatment": [
            "received coupon",
            "treated",
            "is treated",
            "got discount",
            "promo sent",
            "campaign exposed",
            "trt",
            "in program",
            "email sent",
            "enrolled training",
            "vaccinated",
            "subsidy received",
            "ad exposure",
            "tx",
            "coupon flag",
            "treatment group",
        ],
        "outcome": [
            "revenue",
            "spend next 90d",
            "total sales",
            "rev amt",
            "purchase amount",
            "wage",
            "clicks",
            "order value",
            "outcome",
            "profit usd",
            "sales amt",
            "earnings",
            "spend",
        ],
        "unit": [
            "customer id",
            "user id",
            "store id",
            "account id",
            "member id",
            "patient id",
            "firm id",
            "hh id",
            "cust id",
            "client id",
            "store number",
        ],
        "time": [
            "year",
            "date",
            "month",
            "week",
            "period",
            "yr",
            "order date",
            "quarter",
            "survey year",
            "fiscal year",
        ],
        "covariate": [
            "age",
            "income",
            "tenure months",
            "prior purchases",
            "gender",
            "education",
            "household size",
            "num employees",
            "baseline score",
            "segment",
            "channel",
            "prev spend",
            "credit score",
        ],
        "region": ["region", "state", "city"],
        "exclude": ["comments", "row number", "email address", "notes"],
        "running_variable": ["test score", "vote share", "eligibility score", "poverty index"],
        "instrument": ["distance to college", "lottery", "draft lottery", "eligible"],
    },
    "ja": {
        "treatment": [
            "キャンペーン配信",
            "クーポン配布",
            "施策対象",
            "DM送付",
            "処置",
            "割引適用",
            "広告接触",
            "研修受講",
            "補助金受給",
            "ワクチン接種",
            "クーポン受取",
            "施策実施フラグ",
        ],
        "outcome": [
            "売上高",
            "売上金額（円）",
            "購入金額",
            "来店回数",
            "利用額",
            "売上",
            "購入額",
            "客単価",
            "成約件数",
            "販売数",
        ],
        "unit": [
            "店舗ID",
            "顧客ID",
            "会員番号",
            "顧客コード",
            "店舗コード",
            "社員番号",
            "ユーザーID",
            "患者ID",
            "顧客番号",
        ],
        "time": ["年月", "年", "日付", "年度", "週", "四半期", "調査年", "観測日", "時点"],
        "covariate": [
            "年齢",
            "性別",
            "年収",
            "従業員数",
            "店舗面積",
            "前年売上",
            "勤続年数",
            "世帯人数",
            "会員歴",
            "席数",
            "駅距離",
        ],
        "region": ["都道府県", "地域", "エリア"],
        "exclude": ["備考", "行番号", "メールアドレス"],
        "running_variable": ["試験得点", "得票率", "基準スコア"],
        "instrument": ["抽選当選", "大学までの距離"],
    },
    "zh": {
        "treatment": [
            "是否发券",
            "发放优惠券",
            "处理组",
            "营销活动",
            "是否参与",
            "广告曝光",
            "领券",
            "干预",
            "参加培训",
            "政策实施",
            "优惠券",
        ],
        "outcome": [
            "销售额",
            "销量",
            "营收",
            "消费金额",
            "订单金额",
            "利润",
            "转化",
            "客单价",
            "到店次数",
            "营业额",
        ],
        "unit": ["用户ID", "客户编号", "门店ID", "会员ID", "店铺编号", "用户编号", "门店编号", "企业ID"],
        "time": ["年份", "日期", "月份", "季度", "周次", "年月", "时间", "年度"],
        "covariate": [
            "年龄",
            "性别",
            "年收入",
            "员工人数",
            "门店面积",
            "上期销售",
            "学历",
            "工龄",
            "家庭人口",
        ],
        "region": ["省份", "城市", "地区"],
        "exclude": ["备注", "序号", "手机号"],
        "running_variable": ["考试分数", "得票率"],
        "instrument": ["抽签结果", "到大学距离"],
    },
    "ko": {
        "treatment": [
            "쿠폰지급",
            "쿠폰_수령",
            "캠페인",
            "처치여부",
            "광고노출",
            "프로모션",
            "할인",
            "교육참여",
            "보조금",
            "처치",
        ],
        "outcome": ["매출액", "매출", "구매금액", "판매량", "방문수", "주문금액", "수익", "이익", "지출"],
        "unit": ["고객ID", "회원번호", "매장ID", "사용자ID", "매장코드", "고객번호", "점포번호"],
        "time": ["연도", "날짜", "월", "분기", "주차", "연월", "일자", "년도"],
        "covariate": [
            "나이",
            "성별",
            "연소득",
            "직원수",
            "매장면적",
            "전년매출",
            "근속연수",
            "학력",
            "가구원수",
        ],
        "region": ["지역", "시도", "시군구"],
        "exclude": ["비고", "행번호", "이메일"],
        "running_variable": ["시험점수", "득표율"],
        "instrument": ["추첨당첨", "대학거리"],
    },
    "es": {
        "treatment": [
            "recibio descuento",
            "recibió cupón",
            "tratamiento",
            "es tratado",
            "campaña enviada",
            "participa programa",
            "expuesto anuncio",
            "tiene subsidio",
            "vacunado",
            "promoción",
        ],
        "outcome": [
            "ventas",
            "gasto total",
            "ingresos",
            "monto compra",
            "facturación",
            "ganancia",
            "importe",
            "ventas totales",
            "salario",
        ],
        "unit": [
            "id cliente",
            "cliente id",
            "id usuario",
            "id tienda",
            "codigo cliente",
            "id hogar",
            "numero socio",
            "id empresa",
        ],
        "time": ["año", "fecha", "mes", "semana", "trimestre", "periodo", "fecha compra"],
        "covariate": [
            "edad",
            "género",
            "ingreso anual",
            "antigüedad",
            "educación",
            "tamaño hogar",
            "compras previas",
            "segmento",
            "num empleados",
        ],
        "region": ["región", "provincia", "ciudad"],
        "exclude": ["comentarios", "observaciones", "teléfono"],
        "running_variable": ["puntaje examen", "porcentaje votos"],
        "instrument": ["sorteo", "distancia universidad"],
    },
    "fr": {
        "treatment": [
            "traitement",
            "a reçu bon",
            "bon achat",
            "traité",
            "campagne envoyée",
            "participation programme",
            "exposé publicité",
            "remise appliquée",
            "subvention",
            "vacciné",
        ],
        "outcome": [
            "chiffre affaires",
            "ventes",
            "montant achat",
            "dépenses",
            "bénéfice",
            "revenu total",
            "salaire",
            "montant commandes",
            "recettes",
        ],
        "unit": [
            "id client",
            "identifiant client",
            "id magasin",
            "numero client",
            "id utilisateur",
            "id entreprise",
            "code magasin",
        ],
        "time": ["année", "date", "mois", "semaine", "trimestre", "période", "date achat"],
        "covariate": [
            "âge",
            "sexe",
            "revenu annuel",
            "ancienneté",
            "éducation",
            "taille ménage",
            "achats précédents",
            "segment",
            "effectif",
        ],
        "region": ["région", "département", "ville"],
        "exclude": ["commentaire", "remarques", "téléphone"],
        "running_variable": ["note examen", "part voix"],
        "instrument": ["tirage au sort", "distance université"],
    },
    "de": {
        "treatment": [
            "Gutschein erhalten",
            "Behandlung",
            "behandelt",
            "Rabatt",
            "Kampagne",
            "Teilnahme Programm",
            "Werbung gesehen",
            "Zuschuss erhalten",
            "geimpft",
            "Maßnahme",
        ],
        "outcome": [
            "Umsatz",
            "Umsatz gesamt",
            "Ausgaben",
            "Erlös",
            "Gewinn",
            "Bestellwert",
            "Einnahmen",
            "Kaufbetrag",
            "Lohn",
        ],
        "unit": [
            "Kundennummer",
            "Kunden ID",
            "Filial ID",
            "Nutzer ID",
            "Mitglied Nr",
            "Betrieb ID",
            "Filialnummer",
        ],
        "time": ["Jahr", "Datum", "Monat", "Woche", "Quartal", "Zeitraum", "Kalenderwoche"],
        "covariate": [
            "Alter",
            "Geschlecht",
            "Jahreseinkommen",
            "Betriebszugehörigkeit",
            "Bildung",
            "Haushaltsgröße",
            "Vorjahr Umsatz",
            "Segment",
            "Mitarbeiterzahl",
        ],
        "region": ["Bundesland", "Region", "Landkreis"],
        "exclude": ["Kommentar", "Bemerkung", "Telefon"],
        "running_variable": ["Testpunkte", "Stimmenanteil"],
        "instrument": ["Lotterie", "Entfernung Hochschule"],
    },
    "pt": {
        "treatment": [
            "recebeu cupom",
            "tratamento",
            "tratado",
            "recebeu desconto",
            "campanha",
            "participou programa",
            "exposto anúncio",
            "bolsa",
            "vacinado",
            "promoção",
        ],
        "outcome": [
            "vendas",
            "receita",
            "faturamento",
            "gasto total",
            "valor gasto",
            "lucro",
            "compras",
            "salário",
            "vendas totais",
        ],
        "unit": [
            "id cliente",
            "codigo cliente",
            "id loja",
            "id usuario",
            "id empresa",
            "numero cliente",
            "id domicilio",
        ],
        "time": ["ano", "data", "mês", "semana", "trimestre", "período", "data compra"],
        "covariate": [
            "idade",
            "sexo",
            "renda anual",
            "escolaridade",
            "tempo de casa",
            "tamanho familia",
            "compras anteriores",
            "segmento",
            "funcionarios",
        ],
        "region": ["região", "estado", "cidade"],
        "exclude": ["comentários", "observações", "telefone"],
        "running_variable": ["nota exame", "percentual votos"],
        "instrument": ["sorteio", "distância universidade"],
    },
}

# Two-level treatment values people type, per language: (treated, untreated).
LEVELS: dict[str, list[tuple[str, str]]] = {
    "en": [("yes", "no"), ("treated", "control"), ("B", "A"), ("Y", "N")],
    "ja": [("はい", "いいえ"), ("あり", "なし"), ("処置群", "対照群"), ("有", "無")],
    "zh": [("是", "否"), ("实验组", "对照组"), ("有", "无")],
    "ko": [("예", "아니오"), ("있음", "없음"), ("실험군", "대조군")],
    "es": [("sí", "no"), ("tratamiento", "control")],
    "fr": [("oui", "non"), ("traitement", "témoin")],
    "de": [("ja", "nein"), ("Behandlung", "Kontrolle")],
    "pt": [("sim", "não"), ("tratamento", "controle")],
}

# Uninformative names some people use; the values must carry these sets (or the mapper must ask).
OPAQUE: dict[str, dict[str, list[str]]] = {
    "en": {"treatment": ["group", "flag", "var b"], "outcome": ["value", "y", "metric"]},
    "ja": {"treatment": ["グループ", "フラグ"], "outcome": ["値", "数値"]},
    "zh": {"treatment": ["组别", "标记"], "outcome": ["数值", "指标"]},
    "ko": {"treatment": ["그룹", "플래그"], "outcome": ["값", "지표"]},
    "es": {"treatment": ["grupo", "indicador"], "outcome": ["valor", "métrica"]},
    "fr": {"treatment": ["groupe", "indicateur"], "outcome": ["valeur", "mesure"]},
    "de": {"treatment": ["Gruppe", "Kennzeichen"], "outcome": ["Wert", "Kennzahl"]},
    "pt": {"treatment": ["grupo", "indicador"], "outcome": ["valor", "métrica"]},
}

REGIONS = {
    "en": ["north", "south", "east", "west"],
    "ja": ["東京都", "大阪府", "愛知県", "福岡県", "北海道"],
    "zh": ["北京", "上海", "广东", "浙江"],
    "ko": ["서울", "부산", "대구", "인천"],
    "es": ["Madrid", "Cataluña", "Andalucía", "Valencia"],
    "fr": ["Île-de-France", "Bretagne", "Occitanie", "Normandie"],
    "de": ["Bayern", "Hessen", "Berlin", "Sachsen"],
    "pt": ["São Paulo", "Minas Gerais", "Bahia", "Paraná"],
}


def _style(name: str, language: str, rng: np.random.Generator) -> str:
    """Write a name the way a spreadsheet might: snake, camel, Pascal, upper, spaces, full width."""
    words = name.split()
    if language in ("ja", "zh", "ko"):
        joiner = str(rng.choice(["", "_", ""]))
        text = joiner.join(words)
        if rng.random() < 0.3:  # full-width Latin letters and digits, as Japanese spreadsheets have
            text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
        return text
    style = int(rng.integers(0, 6))
    if style == 0:
        return "_".join(w.lower() for w in words)
    if style == 1:
        return words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
    if style == 2:
        return "".join(w[:1].upper() + w[1:] for w in words)
    if style == 3:
        return "_".join(w.upper() for w in words)
    if style == 4:
        return " ".join(words)
    return "-".join(w.lower() for w in words)


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return str(options[int(rng.integers(0, len(options)))])


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = _pick(rng, ["C", "U", "S", "M", ""])
    start = int(rng.integers(1, 5000))
    if prefix and rng.random() < 0.7:
        return np.array([f"{prefix}{i:06d}" for i in range(start, start + n)], dtype=object)
    return np.arange(start, start + n)


def _time_values(rng: np.random.Generator, periods: int, role_name: str) -> list[object]:
    """Period labels matching how the name reads (years, dates, months, quarters, weeks)."""
    kind = int(rng.integers(0, 5))
    base = int(rng.integers(2010, 2018))
    if kind == 0:
        return [base + k for k in range(periods)]
    if kind == 1:
        return [f"{base + k // 12}-{k % 12 + 1:02d}-01" for k in range(periods)]
    if kind == 2:
        return [(base + k // 12) * 100 + k % 12 + 1 for k in range(periods)]
    if kind == 3:
        return [f"{base + k // 4}Q{k % 4 + 1}" for k in range(periods)]
    return [pd.Timestamp(f"{base}-01-01") + pd.Timedelta(weeks=k) for k in range(periods)]


def _treatment_values(
    rng: np.random.Generator, treated: np.ndarray, language: str
) -> tuple[np.ndarray | list[object], bool]:
    """0/1, booleans, or a two-level text in the language; returns values and whether text."""
    mode = rng.random()
    if mode < 0.55:
        return treated.astype(int), False
    if mode < 0.65:
        return treated.astype(bool), False
    yes, no = LEVELS[language][int(rng.integers(0, len(LEVELS[language])))]
    return np.where(treated == 1, yes, no).tolist(), True


def _base_columns(
    rng: np.random.Generator, language: str, n: int, names: dict[str, list[str]], used: set[str]
) -> tuple[dict[str, object], dict[str, str]]:
    """Two to five covariates, maybe a region and an excluded column."""
    columns: dict[str, object] = {}
    labels: dict[str, str] = {}

    def fresh(role: str) -> str:
        for _ in range(20):
            name = _style(_pick(rng, names[role]), language, rng)
            if name not in used:
                used.add(name)
                return name
        raise RuntimeError("ran out of names")

    for _ in range(int(rng.integers(2, 6))):
        name = fresh("covariate")
        kind = rng.random()
        if kind < 0.15:  # a binary covariate competes with the treatment on values
            columns[name] = rng.integers(0, 2, n)
        elif kind < 0.5:
            columns[name] = np.round(rng.normal(40, 12, n), 1)
        elif kind < 0.8:
            columns[name] = rng.integers(0, 30, n)
        else:
            columns[name] = (
                rng.choice(["a", "b", "c"], n) if language == "en" else rng.choice(["1", "2", "3"], n)
            )
        labels[name] = "covariate"
    if rng.random() < 0.4:
        name = fresh("region")
        columns[name] = rng.choice(REGIONS[language], n)
        labels[name] = "region"
    if rng.random() < 0.3:
        name = fresh("exclude")
        columns[name] = [f"memo {i} " * 4 for i in range(n)] if rng.random() < 0.5 else np.arange(1, n + 1)
        labels[name] = "exclude"
    return columns, labels


def _names(language: str, layout: str) -> dict[str, list[str]]:
    names = dict(NAMES[language])
    if layout.endswith("opaque"):
        names.update(OPAQUE[language])
    return names


def _cross_section(
    rng: np.random.Generator, language: str, layout: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    names = _names(language, layout)
    n = int(rng.integers(200, 600))
    used: set[str] = set()
    columns, labels = _base_columns(rng, language, n, names, used)
    unit, treatment, outcome = (
        _style(_pick(rng, names[r]), language, rng) for r in ("unit", "treatment", "outcome")
    )
    while len({unit, treatment, outcome} | used) != len(used) + 3:
        treatment = _style(_pick(rng, names["treatment"]), language, rng)
        outcome = _style(_pick(rng, names["outcome"]), language, rng)
        unit = _style(_pick(rng, names["unit"]), language, rng)
    x = rng.normal(size=n)
    extra: dict[str, object] = {}
    if layout == "rd":
        running = _style(_pick(rng, names["running_variable"]), language, rng)
        cutoff = float(rng.choice([0.0, 50.0, 60.0]))
        score = np.round(cutoff + rng.normal(0, 12, n), 2)
        treated = (score >= cutoff).astype(int)
        extra[running] = score
        labels[running] = "running_variable"
    elif layout == "iv":
        instrument = _style(_pick(rng, names["instrument"]), language, rng)
        z = rng.integers(0, 2, n)
        treated = (rng.random(n) < 0.2 + 0.5 * z).astype(int)
        extra[instrument] = z if rng.random() < 0.5 else np.round(rng.gamma(2, 10, n) * (1 - 0.5 * z), 1)
        labels[instrument] = "instrument"
    else:
        treated = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    t_values, _ = _treatment_values(rng, treated, language)
    y = np.round(50 + 5 * treated + 3 * x + rng.normal(0, 4, n), 2)
    frame_columns: dict[str, object] = {
        unit: _ids(rng, n),
        **columns,
        **extra,
        treatment: t_values,
        outcome: y,
    }
    labels.update({unit: "unit", treatment: "treatment", outcome: "outcome"})
    order = list(frame_columns)
    rng.shuffle(order[1:])  # the id first, the rest in any order
    return pd.DataFrame({c: frame_columns[c] for c in order}), labels


def _panel(rng: np.random.Generator, language: str, layout: str) -> tuple[pd.DataFrame, dict[str, str]]:
    names = _names(language, layout)
    units, periods = int(rng.integers(20, 60)), int(rng.integers(6, 16))
    n = units * periods
    used: set[str] = set()
    columns, labels = _base_columns(rng, language, n, names, used)
    picks = {r: _style(_pick(rng, names[r]), language, rng) for r in ("unit", "time", "treatment", "outcome")}
    while len(set(picks.values()) | used) != len(used) + 4:
        picks = {r: _style(_pick(rng, names[r]), language, rng) for r in picks}
    unit_ids = _ids(rng, units)
    period_labels = _time_values(rng, periods, picks["time"])
    adopt = np.where(rng.random(units) < 0.5, rng.integers(2, periods, units), periods + 1)
    u = np.repeat(np.arange(units), periods)
    k = np.tile(np.arange(periods), units)
    treated = (k >= adopt[u]).astype(int)
    t_values, _ = _treatment_values(rng, treated, language)
    y = np.round(100 + 10 * rng.normal(size=units)[u] + 2 * k + 8 * treated + rng.normal(0, 3, n), 2)
    frame_columns: dict[str, object] = {
        picks["unit"]: np.asarray(unit_ids, dtype=object)[u],
        picks["time"]: [period_labels[i] for i in k],
        **columns,
        picks["treatment"]: t_values,
        picks["outcome"]: y,
    }
    labels.update({v: r for r, v in picks.items()})
    order = list(frame_columns)
    rng.shuffle(order)
    return pd.DataFrame({c: frame_columns[c] for c in order}), labels


LAYOUTS: dict[str, Callable[[np.random.Generator, str, str], tuple[pd.DataFrame, dict[str, str]]]] = {
    "cross_section": _cross_section,
    "experiment": _cross_section,
    "rd": _cross_section,
    "iv": _cross_section,
    "panel": _panel,
    "cross_section_opaque": _cross_section,
    "panel_opaque": _panel,
}
# How often each layout appears per language (24 sets per language).
MIX = (
    ("cross_section",) * 7
    + ("cross_section_opaque",)
    + ("panel",) * 7
    + ("panel_opaque",)
    + ("experiment",) * 4
    + ("rd",) * 2
    + ("iv",) * 2
)


def build_corpus(seed: int = 20240501) -> list[ColumnSet]:
    """Every labelled column set, the same on every run."""
    corpus = []
    for li, language in enumerate(LANGUAGES):
        for i, layout in enumerate(MIX[:SETS_PER_LANGUAGE]):
            rng = np.random.default_rng([seed, li, i])
            frame, labels = LAYOUTS[layout](rng, language, layout)
            corpus.append(ColumnSet(f"{language}-{i:02d}-{layout}", language, layout, frame, labels))
    return corpus


@dataclass(frozen=True)
class Outcome:
    """How the mapper did on one column set for one target role."""

    key: str
    language: str
    role: str
    truth: str
    predicted: str | None
    confidence: float
    needs_confirmation: bool

    @property
    def correct(self) -> bool:
        """Top-1 hit: the predicted column is the true one."""
        return self.predicted == self.truth

    def silent_miss(self, threshold: float) -> bool:
        """A wrong column given confidently with no confirmation asked: never allowed."""
        return not self.correct and not self.needs_confirmation and self.confidence >= threshold


@dataclass
class Evaluation:
    """Per-role outcomes and the confusion between true and predicted roles, per column."""

    outcomes: list[Outcome]
    confusion: dict[tuple[str, str], int]
    threshold: float
    asked: list[str]  # keys of the column sets whose mapping asked for confirmation

    def accuracy(self, role: str | None = None, language: str | None = None) -> float:
        """Top-1 accuracy over the outcomes matching role and language."""
        picked = [
            o
            for o in self.outcomes
            if (role is None or o.role == role) and (language is None or o.language == language)
        ]
        return sum(o.correct for o in picked) / len(picked) if picked else float("nan")

    def silent_misses(self) -> list[Outcome]:
        """Every wrong guess given confidently without asking."""
        return [o for o in self.outcomes if o.silent_miss(self.threshold)]


def evaluate(corpus: list[ColumnSet], threshold: float = 0.6) -> Evaluation:
    """Map every column set and compare with its labels."""
    from cqox_mapping.domain import infer_roles

    outcomes: list[Outcome] = []
    confusion: dict[tuple[str, str], int] = {}
    asked: list[str] = []
    for item in corpus:
        result = infer_roles(item.frame, confidence_threshold=threshold)
        if result.needs_confirmation:
            asked.append(item.key)
        by_column = {a.column: a for a in result.assignments}
        for role in TARGET_ROLES:
            truth = item.column_of(role)
            if truth is None:
                continue
            chosen = getattr(result.roles, role)
            confidence = next((a.confidence for a in result.assignments if a.role == role), 0.0)
            outcomes.append(
                Outcome(item.key, item.language, role, truth, chosen, confidence, result.needs_confirmation)
            )
        for column, true_role in item.labels.items():
            predicted = by_column[column].role if column in by_column else "none"
            confusion[(true_role, predicted)] = confusion.get((true_role, predicted), 0) + 1
    return Evaluation(outcomes, confusion, threshold, asked)
