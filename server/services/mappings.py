"""Mappings as stored rows and as engine specs; every accepted change keeps a version."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy.orm import Session

from server.db.models import DataMapping, DataMappingVersion
from server.mapping import MappingSpec
from server.sync.mappings import spec_of

#: The API's names for the spec's parts.
_FIELD_NAMES = {"fields": "field_mappings", "name": "name", "source": "source",
                "target": "target"}


class MappingShapeError(ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def checked_spec(row: DataMapping) -> MappingSpec:
    """The row's spec, or MappingShapeError naming each malformed field."""
    try:
        return spec_of(row)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = [str(p) for p in err["loc"]]
            if loc:
                loc[0] = _FIELD_NAMES.get(loc[0], loc[0])
            errors.append((".".join(loc) or "field_mappings",
                           err["msg"].removeprefix("Value error, ")))
        raise MappingShapeError(errors) from None


def record_version(session: Session, row: DataMapping, spec: MappingSpec,
                   author: uuid.UUID | None) -> DataMappingVersion:
    version = DataMappingVersion(
        id=uuid.uuid4(), mapping_id=row.id, version=spec.version,
        spec=spec.model_dump(mode="json"), fingerprint=spec.fingerprint(), created_by=author)
    session.add(version)
    return version
