"""The analyses read model: how each event changes an analysis row, its one-line summary, and
when an analysis has waited too long (its deadlines).

Pure (no I/O); `handlers.project_event` applies it to the database and `handlers.deadline_watchdog`
fails the analyses `overdue` names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cqox_contracts.v1 import (
    AnalysisAssessed,
    AnalysisEstimated,
    AnalysisFailed,
    DatasetConfirmed,
    DatasetIngested,
    DatasetMapped,
    DatasetQualified,
    DatasetRejected,
    EstimateCompleted,
    EstimateFailed,
    EstimateRequested,
    Event,
    NotificationDelivered,
    NotificationFailed,
    ReportGenerated,
)

STATUS_RANK = {
    "accepted": 0,
    "mapped": 1,
    "awaiting_confirmation": 1,
    "qualified": 2,
    "estimating": 3,
    "estimated": 4,
    "assessed": 5,
    "completed": 6,
    "rejected": 9,
    "failed": 9,
}
TERMINAL = {"completed", "rejected", "failed"}

# The stage an analysis waits on in each open status. `awaiting_confirmation` waits on a person,
# at a person's pace: no deadline applies to it.
AWAITED_STAGE = {
    "accepted": "mapping",
    "mapped": "quality-gate",
    "qualified": "estimator",
    "estimating": "estimator",
    "estimated": "quality-gate",
    "assessed": "visualization",
}
# Seconds an analysis may wait at a stage without any progress (no event). The estimator's own
# deadline (CQOX_ESTIMATOR_TIMEOUT_S, 900 s) closes slow methods first; this one catches a stage
# that says nothing at all.
DEFAULT_STAGE_DEADLINES_S = {
    "mapping": 600.0,
    "quality-gate": 900.0,
    "estimator": 1800.0,
    "visualization": 900.0,
}


@dataclass(frozen=True)
class Deadlines:
    """How long an analysis may wait: per stage without progress, and in all (0 turns one off)."""

    stage_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STAGE_DEADLINES_S))
    analysis_s: float = 7200.0

    @classmethod
    def configured(cls, stage_s: Mapping[str, float], analysis_s: float) -> Deadlines:
        """The defaults, with the stages given overridden."""
        return cls({**DEFAULT_STAGE_DEADLINES_S, **stage_s}, analysis_s)

    @property
    def shortest_s(self) -> float:
        """The shortest deadline in force (how stale a row must be to be worth a look)."""
        return min([s for s in (*self.stage_s.values(), self.analysis_s) if s > 0], default=0.0)


def overdue(
    status: str, created_at: datetime, updated_at: datetime, now: datetime, deadlines: Deadlines
) -> tuple[str, str] | None:
    """The stage and reason an analysis fails with because it waited too long, or None."""
    stage = AWAITED_STAGE.get(status)
    if stage is None:
        return None
    limit = deadlines.stage_s.get(stage, 0.0)
    idle = (now - updated_at).total_seconds()
    if limit > 0 and idle > limit:
        return stage, (
            f"no progress for {idle:.0f} s while waiting on {stage} (status {status}); "
            f"its stage deadline is {limit:g} s"
        )
    age = (now - created_at).total_seconds()
    if deadlines.analysis_s > 0 and age > deadlines.analysis_s:
        return stage, (
            f"not finished {age:.0f} s after it started (deadline {deadlines.analysis_s:g} s); "
            f"it was waiting on {stage} (status {status})"
        )
    return None


def _advance(state: dict[str, Any], status: str) -> None:
    if (
        STATUS_RANK[status] >= STATUS_RANK.get(state.get("status", "accepted"), 0)
        and state.get("status") not in TERMINAL
    ):
        state["status"] = status


def _open(state: dict[str, Any]) -> bool:
    """Whether per-method results may still change the analysis (it has not been closed)."""
    return STATUS_RANK.get(state.get("status", "accepted"), 0) < STATUS_RANK["estimated"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def summarize(event: Event) -> str:
    """One human line describing an event (shown in progress views)."""
    match event:
        case DatasetIngested():
            d = event.dataset
            return f"stored {d.name} v{d.version}: {d.n_rows} rows × {len(d.columns)} columns"
        case DatasetMapped():
            conf = {a.role: a.confidence for a in event.assignments}
            r = event.roles
            text = (
                f"treatment={r.treatment} ({conf.get('treatment', 0):.2f}), outcome={r.outcome} "
                f"({conf.get('outcome', 0):.2f}), unit={r.unit}"
                + (f", time={r.time}" if r.time else "")
                + f", {len(r.covariates)} covariates; design {event.design}"
            )
            return text + ("; needs confirmation" if event.needs_confirmation else "")
        case DatasetConfirmed():
            given = ", ".join(f"{role}={column}" for role, column in event.roles.items())
            return f"mapping confirmed by a person: {given or 'inferred roles accepted'}"
        case DatasetQualified():
            return f"data gates passed ({sum(g.passed for g in event.gates)}/{len(event.gates)})"
        case DatasetRejected():
            return f"rejected: {event.reason}"
        case EstimateRequested():
            return f"{event.method} requested"
        case EstimateCompleted():
            r = event.result
            return (
                f"{event.method}: {r.estimand} {_fmt(r.estimate)} "
                f"({r.ci_level:.0%} CI {_fmt(r.ci_lower)} to {_fmt(r.ci_upper)}), n={r.n}"
            )
        case EstimateFailed():
            return f"{event.method} failed: {event.reason}"
        case AnalysisEstimated():
            extra = f", timed out: {', '.join(event.timed_out)}" if event.timed_out else ""
            return f"{len(event.estimates)} of {len(event.planned_methods)} methods estimated{extra}"
        case AnalysisAssessed():
            failed = [g.name for g in event.gates if not g.passed]
            lead = event.headline
            leads = f"; headline {lead.estimand} {lead.estimate:.4g} ({lead.method})" if lead else ""
            verdict = f"; verdict {event.verdict.level}" if event.verdict else ""
            return (
                f"{len(event.gates) - len(failed)}/{len(event.gates)} gates passed"
                + (f"; failed: {', '.join(failed)}" if failed else "")
                + leads
                + verdict
            )
        case ReportGenerated():
            return f"report ready: {event.headline}".strip()
        case AnalysisFailed():
            return f"failed in {event.stage}: {event.reason}"
        case NotificationDelivered():
            return f"webhook delivered to {event.target} (attempt {event.attempts})"
        case NotificationFailed():
            return f"webhook to {event.target} failed: {event.reason}"
    return event.event_type


def _upsert(items: list[dict[str, Any]], item: dict[str, Any], key: str = "method") -> list[dict[str, Any]]:
    return [i for i in items if i.get(key) != item.get(key)] + [item]


def project(state: dict[str, Any], event: Event) -> dict[str, Any]:
    """Apply one event to an analysis read-model row (a dict of its columns); returns the new state.

    Events may arrive out of order across streams: status only moves forward, terminal states stay.
    """
    state = dict(state)
    match event:
        case DatasetMapped():
            state.update(
                roles=event.roles.model_dump(mode="json"),
                assignments=[a.model_dump(mode="json") for a in event.assignments],
                design=event.design,
                needs_confirmation=event.needs_confirmation,
                mapping_context=event.model_dump(
                    mode="json",
                    include={"designs", "notes", "confidence_threshold", "dictionary_version", "confirmed"},
                ),
            )
            _advance(state, "awaiting_confirmation" if event.needs_confirmation else "mapped")
        case DatasetQualified():
            if STATUS_RANK.get(state.get("status", "accepted"), 0) < STATUS_RANK["assessed"]:
                state["gates"] = [g.model_dump(mode="json") for g in event.gates]
            _advance(state, "qualified")
        case DatasetRejected():
            state.update(gates=[g.model_dump(mode="json") for g in event.gates], error=event.reason)
            _advance(state, "rejected")
        case EstimateRequested():
            state["planned_methods"] = sorted({*state.get("planned_methods", []), event.method})
            _advance(state, "estimating")
        case EstimateCompleted() if _open(state):
            state["estimates"] = _upsert(state.get("estimates", []), event.result.model_dump(mode="json"))
            _advance(state, "estimating")
        case EstimateFailed() if _open(state):
            failure = {"method": event.method, "reason": event.reason, "error_type": event.error_type}
            state["failures"] = _upsert(state.get("failures", []), failure)
            _advance(state, "estimating")
        case AnalysisEstimated():
            state.update(
                planned_methods=event.planned_methods,
                seed=event.seed,
                estimates=[e.model_dump(mode="json") for e in event.estimates],
                failures=[f.model_dump(mode="json") for f in event.failures],
            )
            _advance(state, "estimated")
        case AnalysisAssessed():
            state.update(
                estimates=[e.model_dump(mode="json") for e in event.estimates],
                gates=[g.model_dump(mode="json") for g in event.gates],
                headline=event.headline.model_dump(mode="json") if event.headline else None,
                sensitivity=[p.model_dump(mode="json") for p in event.sensitivity],
                verdict=event.verdict.model_dump(mode="json") if event.verdict else None,
            )
            _advance(state, "assessed")
        case ReportGenerated():
            state["report"] = {
                "uri": event.report_uri,
                "headline": event.headline,
                "artifacts": [a.model_dump(mode="json") for a in event.artifacts],
            }
            _advance(state, "completed")
        case AnalysisFailed():
            if state.get("status") not in TERMINAL:
                state["error"] = f"{event.stage}: {event.reason}"
            _advance(state, "failed")
        case NotificationDelivered() | NotificationFailed():
            note = {
                "subscription_id": event.subscription_id,
                "target": event.target,
                "attempts": event.attempts,
                "status": "delivered" if isinstance(event, NotificationDelivered) else "failed",
            }
            state["notifications"] = [*state.get("notifications", []), note]
    return state
