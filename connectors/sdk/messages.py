"""What ``Connector.read`` yields: records, checkpointable state, and skipped-record notices.

The engine persists the last :class:`StateMessage` of a stream after every record before it
has been stored; handing that state back to ``read`` resumes after those records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ReadMessage", "RecordMessage", "SkippedRecordMessage", "StateMessage"]


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """One record of ``stream`` (a JSON object valid against the stream's schema)."""

    stream: str
    data: dict[str, Any]
    type: Literal["record"] = field(default="record", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "stream": self.stream, "data": self.data}


@dataclass(frozen=True, slots=True)
class StateMessage:
    """A checkpoint: every record before it may be considered read. JSON-serializable."""

    stream: str
    state: dict[str, Any]
    type: Literal["state"] = field(default="state", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "stream": self.stream, "state": self.state}


@dataclass(frozen=True, slots=True)
class SkippedRecordMessage:
    """A record that could not be read and was skipped (never fatal), and where it was."""

    stream: str
    reason: str
    location: str | None = None  # e.g. "users.csv line 7"
    type: Literal["skipped"] = field(default="skipped", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "stream": self.stream,
            "reason": self.reason,
            "location": self.location,
        }


ReadMessage = RecordMessage | StateMessage | SkippedRecordMessage
