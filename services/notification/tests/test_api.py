"""The subscription API and the dispatcher against a real nats-server and PostgreSQL: webhook
targets on private addresses are refused unless the operator allows them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cqox_notification.app import NotificationSettings, create_app
from cqox_notification.db.models import Delivery, Subscription, outbox
from cqox_notification.sealing import SecretSealer, generate_key
from cqox_shared.db import ensure_database

pytestmark = pytest.mark.integration

HOOK = "http://127.0.0.1:9/hook"
KEY = generate_key()


@pytest.fixture(scope="module")
def database_url(infra) -> str:  # type: ignore[no-untyped-def]
    url = str(infra.database_url).rsplit("/", 1)[0] + f"/notif_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    return url


def _client(nats_url: str, database_url: str, *, allow_private: bool) -> Iterator[TestClient]:
    settings = NotificationSettings(
        nats_url=nats_url,
        database_url=database_url,
        api_keys="",
        auth="disabled",
        webhook_allow_private_targets=allow_private,
        webhook_backoff_s=0.1,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def strict(own_nats: str, database_url: str) -> Iterator[TestClient]:
    yield from _client(own_nats, database_url, allow_private=False)


@pytest.fixture
def lenient(own_nats: str, database_url: str) -> Iterator[TestClient]:
    yield from _client(own_nats, database_url, allow_private=True)


def test_setting_defaults_to_refusing_and_reads_its_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS", raising=False)
    assert NotificationSettings().webhook_allow_private_targets is False
    monkeypatch.setenv("CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    assert NotificationSettings().webhook_allow_private_targets is True


def test_loopback_webhook_is_refused_by_default(strict: TestClient) -> None:
    response = strict.post("/v1/subscriptions", json={"url": HOOK})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "the webhook URL's host 127.0.0.1 is a loopback address; webhooks must reach a public address "
        "(an operator can allow private targets with CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS=true)"
    )
    metadata = strict.post("/v1/subscriptions", json={"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.status_code == 422 and "link-local" in metadata.json()["detail"]
    unresolvable = strict.post("/v1/subscriptions", json={"url": "http://no-such-host.invalid/hook"})
    assert unresolvable.status_code == 422 and "resolve" in unresolvable.json()["detail"]
    assert strict.get("/v1/subscriptions").json() == []


def test_loopback_webhook_is_accepted_when_allowed(lenient: TestClient) -> None:
    response = lenient.post("/v1/subscriptions", json={"url": HOOK})
    assert response.status_code == 201, response.text
    assert response.json()["url"] == HOOK
    assert lenient.post("/v1/subscriptions", json={"url": "ftp://x"}).status_code == 422


def test_delivery_to_a_now_private_target_fails_without_retry(strict: TestClient, database_url: str) -> None:
    # A subscription accepted earlier (or a host re-pointed since: DNS rebinding) now aims at
    # a loopback address: the dispatcher refuses to send, once, and says why.
    sub_id, delivery_id, event_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Subscription.__table__).values(
                    id=sub_id,
                    tenant_id="default",
                    url=HOOK,
                    secret=SecretSealer("").seal("s" * 24),
                    event_types=["report.generated"],
                    active=True,
                )
            )
            conn.execute(
                sa.insert(Delivery.__table__).values(
                    id=delivery_id,
                    subscription_id=sub_id,
                    tenant_id="default",
                    analysis_id="a-ssrf",
                    correlation_id="a-ssrf",
                    causation_id=event_id,
                    event_id=event_id,
                    event_type="report.generated",
                    payload="{}",
                    status="pending",
                    attempts=0,
                    last_error="",
                )
            )
        # Other tests' report.generated events on the shared bus may add deliveries to this
        # subscription while it exists: look at the one inserted here only.
        delivery: dict = {}  # type: ignore[type-arg]
        for _ in range(100):
            listed = strict.get(f"/v1/subscriptions/{sub_id}/deliveries").json()
            delivery = next((d for d in listed if d["id"] == delivery_id), {})
            if delivery and delivery["status"] not in ("pending", "in_flight"):
                break
            time.sleep(0.1)
        assert delivery["status"] == "failed"
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] is None
        assert "host 127.0.0.1 is a loopback address" in attempt["error"]
        with engine.connect() as conn:
            failed = (
                conn.execute(
                    sa.select(outbox.c.payload).where(
                        outbox.c.subject.like("%notification.failed%"),
                        outbox.c.payload.contains(sub_id),
                        outbox.c.payload.contains('"a-ssrf"'),
                    )
                )
                .scalars()
                .all()
            )
        assert len(failed) == 1 and "loopback address" in failed[0]
    finally:
        engine.dispose()


def test_subscription_api_is_rate_limited_per_key(own_nats: str, database_url: str) -> None:
    settings = NotificationSettings(
        nats_url=own_nats,
        database_url=database_url,
        api_keys="a-key:acme:admin,g-key:globex:admin",
        rate_limit_requests_per_minute=2,
    )
    with TestClient(create_app(settings)) as client:
        acme, globex = {"X-API-Key": "a-key"}, {"X-API-Key": "g-key"}
        assert [client.get("/v1/subscriptions", headers=acme).status_code for _ in range(2)] == [200, 200]
        refused = client.get("/v1/subscriptions", headers=acme)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        assert refused.json()["detail"].startswith("rate limit of 2 requests per minute for tenant acme")
        assert client.get("/v1/subscriptions", headers=globex).status_code == 200
        assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def test_secrets_are_long_sealed_at_rest_and_urls_hidden_from_viewers(
    own_nats: str, database_url: str
) -> None:
    settings = NotificationSettings(
        nats_url=own_nats,
        database_url=database_url,
        api_keys="an-key:redact:analyst,v-key:redact:viewer",
        webhook_allow_private_targets=True,
        webhook_secret_keys=KEY,
    )
    hook = "http://127.0.0.1:9/services/T0/B1?token=t0k3n"
    with TestClient(create_app(settings)) as client:
        analyst, viewer = {"X-API-Key": "an-key"}, {"X-API-Key": "v-key"}
        short = client.post("/v1/subscriptions", json={"url": hook, "secret": "s3cret"}, headers=analyst)
        assert short.status_code == 422
        assert short.json()["detail"].startswith("the webhook secret has 6 characters; at least 24")
        secret = "a-long-enough-signing-secret"
        created = client.post("/v1/subscriptions", json={"url": hook, "secret": secret}, headers=analyst)
        assert created.status_code == 201 and created.json()["secret"] == secret
        [seen_by_analyst] = client.get("/v1/subscriptions", headers=analyst).json()
        [seen_by_viewer] = client.get("/v1/subscriptions", headers=viewer).json()
    assert seen_by_analyst["url"] == hook and seen_by_analyst["secret"] is None
    assert seen_by_viewer["url"] == "http://127.0.0.1:9/…"
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(Subscription.secret).where(Subscription.id == created.json()["id"])
            ).scalar_one()
    finally:
        engine.dispose()
    assert secret not in stored and SecretSealer(KEY).open(stored) == secret
    with pytest.raises(ValueError, match="no key"):
        SecretSealer(generate_key()).open(stored)
