"""The mapping model: what the console's designer edits and the agent executes, as is.

A ``MappingSpec`` is plain, versioned JSON. Example (inbound: a connector stream to a canonical
entity)::

    {
      "format": 1, "name": "okta users", "version": 3,
      "direction": "inbound", "source": "okta.users", "target": "identity",
      "fields": [
        {"target": "external_id", "source": "id"},
        {"target": "email", "source": "profile.email", "steps": ["trim", "lower"],
         "rules": {"required": true, "pattern": "@"}},
        {"target": "status", "source": "status",
         "steps": [{"function": "lookup", "params": {"table": {"ACTIVE": "active"},
                                                     "default": "unknown"}}]}
      ]
    }

``version`` counts edits of one mapping (``next_version`` makes the successor); ``format`` is
the version of this JSON shape, so an old agent refuses a mapping it cannot read.
Outbound mappings (``direction: "outbound"``) read a canonical entity (``source``) and write an
external object's fields (``target``) with the same machinery.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION: Final = 1
RuleType = Literal["string", "integer", "number", "boolean", "array", "object", "date-time"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Model):
    """One transformation: a registered function and its parameters."""

    function: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # "lower" is shorthand for {"function": "lower"}.
        return {"function": data} if isinstance(data, str) else data


class ValidationRules(_Model):
    """Checks on a field's final value; a failed check is a FieldError for that record.

    ``required`` refuses null and the empty string. The other checks skip null values.
    """

    required: bool = False
    type: RuleType | None = None
    pattern: str | None = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)


class FieldMapping(_Model):
    """Where one target field comes from and how it is transformed and checked.

    ``source`` is a path (see ``server.mapping.paths``), a list of paths (the value is then the
    list of their values, for ``concat`` or ``coalesce``), or null (no source: use ``constant``).
    """

    target: str = Field(min_length=1, max_length=300)
    source: str | list[str] | None = None
    steps: list[Step] = Field(default_factory=list)
    rules: ValidationRules = Field(default_factory=ValidationRules)
    secret: bool = False
    description: str = ""

    @field_validator("source")
    @classmethod
    def _non_empty_sources(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("an empty list of sources maps nothing; use null")
        return value

    def source_paths(self) -> list[str]:
        if self.source is None:
            return []
        return [self.source] if isinstance(self.source, str) else list(self.source)


class MappingSpec(_Model):
    """A versioned mapping from one source entity/stream to one target entity type."""

    format: Literal[1] = FORMAT_VERSION
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(default=1, ge=1)
    direction: Literal["inbound", "outbound"] = "inbound"
    source: str = Field(min_length=1, max_length=300)
    target: str = Field(min_length=1, max_length=300)
    source_schema: dict[str, Any] | None = None
    target_schema: dict[str, Any] | None = None
    fields: list[FieldMapping] = Field(default_factory=list)
    description: str = ""

    @property
    def canonical_entity(self) -> str:
        """The canonical entity type this mapping produces (inbound) or reads (outbound)."""
        return self.target if self.direction == "inbound" else self.source

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> MappingSpec:
        return cls.model_validate_json(text)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: identifies exactly what an execution ran."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def next_version(self, **changes: Any) -> MappingSpec:
        """The successor of this mapping with ``changes`` applied (every edit is a version)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data.update(changes)
        data["version"] = self.version + 1
        data.pop("format", None)
        return MappingSpec.model_validate(data)
