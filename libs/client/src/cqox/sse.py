"""Server-Sent Events: a line decoder (the WHATWG rules the API follows) and the analysis event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched SSE message; `comment` is True for a keep-alive (`: ...`) line."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    comment: bool = False


class SSEDecoder:
    """Feed it the lines of a stream; it returns a `ServerEvent` when a blank line ends one.

    A message cut short by a dropped connection is never dispatched (no blank line arrives)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> ServerEvent | None:
        """Take one line (without its end-of-line); a complete message or a comment, else None."""
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and not self._event:
                return None
            message = ServerEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return message
        if line.startswith(":"):
            return ServerEvent(event="comment", data=line[1:].strip(), comment=True)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


@dataclass(frozen=True)
class AnalysisEvent:
    """One event of an analysis as the API streams it (its sequence number is the SSE id)."""

    seq: int
    event_type: str
    producer: str
    summary: str
    subject: str = ""
    occurred_at: str = ""

    @classmethod
    def of(cls, message: ServerEvent) -> AnalysisEvent:
        """The analysis event a non-comment, non-`end` SSE message carries."""
        data: dict[str, Any] = json.loads(message.data)
        return cls(
            seq=int(data.get("seq") or message.id or 0),
            event_type=str(data.get("event_type") or message.event),
            producer=str(data.get("producer", "")),
            summary=str(data.get("summary", "")),
            subject=str(data.get("subject", "")),
            occurred_at=str(data.get("occurred_at", "")),
        )


def end_status(message: ServerEvent) -> str | None:
    """The final status an `end` message announces, or None for any other message."""
    if message.event != "end":
        return None
    try:
        return str(json.loads(message.data).get("status", "")) or "ended"
    except (ValueError, AttributeError):
        return "ended"
