"""Input types that keep bad data out of both databases.

PostgreSQL rejects NUL characters in text and JSON, and neither database can store NaN or
infinities in JSON; such input is refused at the edge with a field-level 422 instead of
failing later as a 500.
"""

from __future__ import annotations

import math
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

MAX_JSON_DEPTH = 32


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _clean_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item, depth + 1)
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {value!r}; use an IANA name like Europe/Berlin"
        raise ValueError(message) from None
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Text = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_no_nul)]
ShortText = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul)]
Document = Annotated[str, StringConstraints(max_length=5_000_000), AfterValidator(_no_nul)]
Url = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
JsonList = Annotated[list[Any], AfterValidator(_clean_json)]
#: Secret values by credential name and field (`{"github-token": {"token": "…"}}`).
NamedSecrets = Annotated[dict[str, dict[str, str]], AfterValidator(_clean_json)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]
Limit = Annotated[int, Field(ge=1, le=500)]
