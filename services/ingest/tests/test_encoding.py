"""Encoding detection: every encoding users send, short files, and large mostly-ASCII files."""

from __future__ import annotations

from pathlib import Path

import pytest
from charset_normalizer import from_bytes

from cqox_ingest.readers import IngestError, read_table
from cqox_ingest.readers.encoding import detect_encoding, detect_sample

SAMPLES: list[tuple[str, str]] = [
    ("cp932", "名前,年齢\n田中,30\n"),
    ("cp932", "顧客ID,売上,地域\n1,100,東京\n"),
    ("cp932", "売上,地域\n1,東京\n"),
    ("cp932", "施策,結果\nはい,1\nいいえ,0\n"),
    ("cp932", "ｱｲｳ,カナ\n①,Ⅱ\n髙橋,﨑\n"),  # half-width kana, NEC and IBM extension characters
    ("cp932", "№,㈱,≒,∵\n1,2,3,4\n"),  # NEC row 13 symbols
    ("cp932", "店舗,施策,売上高\n新宿店,1,120.5\n渋谷店,0,98.0\n"),
    ("euc_jp", "名前,年齢\n田中,30\n"),
    ("euc_jp", "顧客ID,売上,地域\n1,100,東京\n"),
    ("euc_jp", "施策,結果\nはい,1\nいいえ,0\n"),
    ("gb18030", "姓名,年龄\n张三,30\n"),
    ("gb18030", "销售额,地区\n100,北京\n"),
    ("gb18030", "用户编号,是否发放优惠券,消费金额\n1,是,100\n"),
    ("big5", "姓名,年齡\n張三,30\n"),
    ("big5", "銷售額,地區\n100,臺北\n"),
    ("euc_kr", "이름,나이\n김철수,30\n"),
    ("euc_kr", "매출,지역\n100,서울\n"),
    ("cp1252", "name,city,price\nJosé,München,€5\n"),
    ("cp1252", "Größe;Preis\n1,5;2\n"),
    ("cp1252", "café,naïve\n“q”,–\n"),
    ("latin-1", "name,city\nJosé,Zürich\n"),
]
SAME = {"latin-1": {"latin-1", "cp1252"}, "cp1252": {"cp1252", "latin-1"}}


@pytest.mark.parametrize(("encoding", "text"), SAMPLES, ids=[f"{e}-{i}" for i, (e, _) in enumerate(SAMPLES)])
def test_short_samples_are_detected(encoding: str, text: str) -> None:
    assert detect_sample(text.encode(encoding)) in SAME.get(encoding, {encoding})


def test_a_general_detector_alone_gets_short_japanese_wrong() -> None:
    """Why detection is biased: unrestricted, charset-normalizer calls some short CP932 text Chinese."""
    wrong = 0
    for encoding, text in SAMPLES:
        if encoding == "cp932":
            guess = from_bytes(text.encode(encoding)).best()
            wrong += guess is None or guess.encoding not in ("cp932", "shift_jis")
    assert wrong > 0
    assert all(detect_sample(t.encode(e)) == "cp932" for e, t in SAMPLES if e == "cp932")


@pytest.mark.parametrize(
    ("bom", "encoding", "expected"),
    [
        (b"\xef\xbb\xbf", "utf-8", "utf-8-sig"),
        (b"", "utf-16", "utf-16"),  # Python writes the BOM itself
        (b"", "utf-32", "utf-32"),
    ],
)
def test_byte_order_marks(tmp_path: Path, bom: bytes, encoding: str, expected: str) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(bom + "id,名前\n1,東京\n2,서울\n".encode(encoding))
    assert detect_encoding(path) == expected
    table = read_table(path, "b.csv")
    assert table.data.column_names == ["id", "名前"]
    assert table.data.column("名前").to_pylist() == ["東京", "서울"]


@pytest.mark.parametrize("encoding", ["cp932", "euc_jp", "gb18030", "big5", "euc_kr", "cp1252"])
def test_late_non_ascii_in_a_large_mostly_ascii_file(tmp_path: Path, encoding: str) -> None:
    late = {
        "cp932": "髙橋①のコメント",
        "euc_jp": "日本語のコメント",
        "gb18030": "简体中文的评论",
        "big5": "繁體中文的評論",
        "euc_kr": "한국어 댓글입니다",
        "cp1252": "Müller’s café",
    }[encoding]
    lines = ["id,comment"] + [f"{i},ok" for i in range(300_000)] + [f"300000,{late}"]
    data = "\n".join(lines).encode(encoding)
    assert len(data) > 2 << 20
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    table = read_table(path, "big.csv")
    assert table.encoding == encoding
    assert table.data.column("comment")[-1].as_py() == late


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("cp932", "店舗,売上\n新宿,1\n"), ("euc_jp", "店舗,売上\n新宿,1\n"), ("gb18030", "门店,销售\n北京,1\n")],
)
def test_cjk_column_names_survive(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(text.encode(encoding))
    assert read_table(path, "c.csv").data.column_names == text.split("\n")[0].split(",")


def test_encoding_parameter_overrides(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_bytes("name\nJosé\n".encode("cp1252"))
    assert read_table(path, "o.csv", encoding="latin-1").data.column("name").to_pylist() == ["José"]
    path.write_bytes("名前\n髙橋①\n".encode("cp932"))
    assert read_table(path, "o.csv", encoding="Shift_JIS").data.column("名前").to_pylist() == ["髙橋①"]
    with pytest.raises(IngestError, match="unknown encoding 'klingon'"):
        read_table(path, "o.csv", encoding="klingon")
    path.write_bytes("名前\n田中\n".encode("cp932"))
    with pytest.raises(IngestError) as info:
        read_table(path, "o.csv", encoding="utf-8")
    assert info.value.status_code == 422 and "not valid utf-8" in info.value.message
