"""HTTP API of the notification service: webhook subscriptions and their deliveries."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from cqox_notification.db.models import Delivery, DeliveryAttempt, Subscription
from cqox_notification.domain import (
    DEFAULT_EVENT_TYPES,
    MAX_SECRET_LENGTH,
    MIN_SECRET_LENGTH,
    new_secret,
    redact_url,
    secret_problem,
)
from cqox_notification.sealing import SecretSealer
from cqox_notification.targets import target_problem
from cqox_shared.auth import Principal
from cqox_shared.runtime import ServiceRuntime

# No control characters (PostgreSQL cannot store NUL; none belongs in a URL or an id).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class Problem(BaseModel):
    """Why a request was refused: `detail` says what to change (a list for validation errors)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[dict[str, Any]]


# Every refusal the API can answer, documented on every route (the fuzz test holds us to it).
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": description}
    for code, description in {
        400: "The body cannot be parsed (not JSON)",
        401: "Missing or invalid API key or bearer token",
        403: "The caller's role is not allowed to do this",
        404: "No such subscription for the caller's tenant",
        413: "The body is larger than the service accepts",
        422: "Invalid input: the message names the field",
        429: "Rate limit; see Retry-After",
    }.items()
}
SubscriptionId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=PRINTABLE)]


class SubscriptionIn(BaseModel):
    """A webhook to register."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=PRINTABLE,
        description="http(s) URL that receives a signed POST per event",
    )
    event_types: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENT_TYPES), max_length=64)
    analysis_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=PRINTABLE,
        description="Only events of this analysis (default: all)",
    )
    secret: str | None = Field(
        default=None,
        description=f"Signing secret of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters "
        "(generated when absent); stored encrypted",
    )


class SubscriptionOut(BaseModel):
    """A registered webhook (the secret is shown only when created; the URL's path and query
    are hidden from viewers)."""

    id: str
    url: str
    event_types: list[str]
    analysis_id: str | None
    active: bool
    created_at: datetime | None = None
    secret: str | None = None


class AttemptOut(BaseModel):
    """One HTTP attempt of a delivery."""

    attempt: int
    status_code: int | None
    error: str
    duration_ms: float
    at: datetime | None


class DeliveryOut(BaseModel):
    """One event delivered (or being delivered) to a subscription, with every attempt."""

    id: str
    analysis_id: str
    event_type: str
    status: str = Field(description="pending, in_flight, delivered, failed or cancelled")
    attempts: list[AttemptOut]


def router(
    runtime: ServiceRuntime,
    auth: Callable[..., Principal | Awaitable[Principal]],
    *,
    allow_private_targets: bool = False,
    sealer: SecretSealer | None = None,
) -> APIRouter:
    """Routes bound to the service runtime and the auth dependency.

    Webhook URLs whose host resolves to a private, loopback, link-local or otherwise non-public
    address are refused unless `allow_private_targets`. Secrets are sealed with `sealer`."""
    sealer = sealer or SecretSealer("")
    api = APIRouter(prefix="/v1", responses=REFUSALS)
    Caller = Annotated[Principal, Depends(auth)]
    from cqox_contracts.v1 import EVENT_TYPES

    @api.post("/subscriptions", status_code=201, response_model=SubscriptionOut)
    async def create_subscription(body: SubscriptionIn, caller: Caller) -> SubscriptionOut:
        """Register a webhook; deliveries are signed with HMAC-SHA256 of `timestamp.body`.

        The URL's host must resolve, and only to public addresses (unless the operator allows
        private targets)."""
        caller.require("analyst")
        if body.secret is not None and (weak := secret_problem(body.secret)):
            raise HTTPException(422, weak)
        if problem := await target_problem(body.url, allow_private=allow_private_targets):
            raise HTTPException(422, problem.reason)
        unknown = [t for t in body.event_types if t not in EVENT_TYPES]
        if unknown or not body.event_types:
            raise HTTPException(422, f"unknown event types {unknown}; choose from {sorted(EVENT_TYPES)}")
        secret = body.secret or new_secret()
        sub = Subscription(
            id=str(uuid.uuid4()),
            tenant_id=caller.tenant_id,
            url=body.url,
            secret=sealer.seal(secret),
            event_types=body.event_types,
            analysis_id=body.analysis_id,
            active=True,
        )
        async with runtime.transaction() as ctx:
            ctx.session.add(sub)
        return SubscriptionOut(**_public(sub), secret=secret)

    @api.get("/subscriptions", response_model=list[SubscriptionOut])
    async def list_subscriptions(caller: Caller) -> list[SubscriptionOut]:
        """The caller's tenant's subscriptions."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            rows = (
                await session.scalars(
                    sa.select(Subscription)
                    .where(Subscription.tenant_id == caller.tenant_id)
                    .order_by(Subscription.created_at)
                )
            ).all()
        redact = not _may_see_urls(caller)
        return [SubscriptionOut(**_public(s, redact=redact)) for s in rows]

    @api.delete("/subscriptions/{subscription_id}", status_code=204)
    async def delete_subscription(subscription_id: SubscriptionId, caller: Caller) -> None:
        """Deactivate a subscription (pending deliveries are cancelled)."""
        caller.require("analyst")
        async with runtime.transaction() as ctx:
            sub = await ctx.session.get(Subscription, subscription_id)
            if sub is None or sub.tenant_id != caller.tenant_id:
                raise HTTPException(404, f"no subscription {subscription_id}")
            sub.active = False

    @api.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut])
    async def list_deliveries(subscription_id: SubscriptionId, caller: Caller) -> list[DeliveryOut]:
        """Deliveries of a subscription with every attempt."""
        async with runtime.sessions() as session:  # type: ignore[misc]
            sub = await session.get(Subscription, subscription_id)
            if sub is None or sub.tenant_id != caller.tenant_id:
                raise HTTPException(404, f"no subscription {subscription_id}")
            deliveries = (
                await session.scalars(
                    sa.select(Delivery)
                    .where(Delivery.subscription_id == subscription_id)
                    .order_by(Delivery.created_at)
                )
            ).all()
            out = []
            for d in deliveries:
                attempts = (
                    await session.scalars(
                        sa.select(DeliveryAttempt)
                        .where(DeliveryAttempt.delivery_id == d.id)
                        .order_by(DeliveryAttempt.attempt)
                    )
                ).all()
                out.append(
                    DeliveryOut(
                        id=d.id,
                        analysis_id=d.analysis_id,
                        event_type=d.event_type,
                        status=d.status,
                        attempts=[
                            AttemptOut(
                                attempt=a.attempt,
                                status_code=a.status_code,
                                error=a.error,
                                duration_ms=round(a.duration_ms, 1),
                                at=a.attempted_at,
                            )
                            for a in attempts
                        ],
                    )
                )
        return out

    return api


def _may_see_urls(caller: Principal) -> bool:
    # A webhook URL can carry a credential (a token in its path or query): analysts and up only.
    try:
        caller.require("analyst")
    except HTTPException:
        return False
    return True


def _public(sub: Subscription, *, redact: bool = False) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": redact_url(sub.url) if redact else sub.url,
        "event_types": sub.event_types,
        "analysis_id": sub.analysis_id,
        "active": sub.active,
        "created_at": sub.created_at,
    }
