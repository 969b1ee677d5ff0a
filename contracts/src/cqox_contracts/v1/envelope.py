"""The v1 event envelope every CQOx event carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"


def utc_now() -> datetime:
    """Current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


class Event(BaseModel):
    """Envelope shared by all v1 events; subclasses add the payload fields.

    `event_type` is fixed per class; `subject` (a class variable, not serialised) is the
    NATS subject the event is published on, with `{method}` filled in for per-method events.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    subject_template: ClassVar[str] = ""
    public: ClassVar[bool] = True

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; also the Nats-Msg-Id.")
    event_type: str = Field(description="Dotted type name, e.g. 'dataset.ingested'.")
    schema_version: str = Field(default=SCHEMA_VERSION)
    occurred_at: datetime = Field(default_factory=utc_now, description="UTC time of the fact.")
    correlation_id: str = Field(description="The analysis id: shared by every event of one analysis.")
    causation_id: UUID | None = Field(default=None, description="event_id of the event that caused this one.")
    tenant_id: str = Field(default="default")
    producer: str = Field(description="Service that produced the event.")

    @property
    def subject(self) -> str:
        """NATS subject this event is published on."""
        method = getattr(self, "method", "")
        return self.subject_template.format(method=method)

    def caused(self) -> dict[str, object]:
        """Envelope fields for an event caused by this one (same correlation and tenant)."""
        return {
            "correlation_id": self.correlation_id,
            "causation_id": self.event_id,
            "tenant_id": self.tenant_id,
        }
