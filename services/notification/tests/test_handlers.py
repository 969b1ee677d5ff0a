"""Turning result events into deliveries, on one event at a time against the `notification` schema
(handler harness): one pending delivery per matching, active subscription of the event's tenant."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cqox_contracts.v1 import ReportGenerated
from cqox_notification.app import NotificationSettings, build_runtime
from cqox_notification.db.models import Delivery, Subscription
from cqox_shared.harness import HandlerHarness, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    return scratch_database(infra.database_url, "notification")


def _subscription(sub_id: str, **fields: object) -> Subscription:
    values: dict[str, object] = {
        "tenant_id": "acme", "url": "https://example.org/hook", "secret": "s",
        "event_types": ["report.generated"], "analysis_id": None, "active": True,
    }  # fmt: skip
    return Subscription(id=sub_id, **(values | fields))


async def test_one_delivery_per_matching_subscription_and_none_twice(
    database_url: str, tmp_path: Path
) -> None:
    settings = NotificationSettings(database_url=database_url, artifact_url=f"file://{tmp_path}")
    async with HandlerHarness(build_runtime(settings)) as harness:
        async with harness.transaction() as session:
            session.add_all(
                [
                    _subscription("all-reports"),
                    _subscription("this-analysis", analysis_id="an_n"),
                    _subscription("other-analysis", analysis_id="an_other"),
                    _subscription("other-tenant", tenant_id="globex"),
                    _subscription("inactive", active=False),
                    _subscription("failures-only", event_types=["analysis.failed"]),
                ]
            )
        event = ReportGenerated(
            correlation_id="an_n", tenant_id="acme", producer="visualization", analysis_id="an_n",
            report_uri="file:///r.html", artifacts=[],
        )  # fmt: skip
        first = await harness.run(event)
        again = await harness.run(event)
        deliveries = await harness.rows(
            sa.select(Delivery.subscription_id, Delivery.status, Delivery.event_id)
        )
    assert first.outcome == "ok" and first.emitted == []  # deliveries go out later, from the dispatcher
    assert again.outcome == "duplicate"
    assert sorted(d.subscription_id for d in deliveries) == ["all-reports", "this-analysis"]
    assert {(d.status, d.event_id) for d in deliveries} == {("pending", str(event.event_id))}
