"""Dates and times: parse to an aware UTC datetime, format in any IANA time zone.

``parse_datetime`` yields a ``datetime`` (type ``datetime`` in the designer); the engine writes
it out as ISO 8601 (``2024-05-01T12:00:00+00:00``) unless ``format_datetime`` formats it first.
Naive inputs are read in the ``timezone`` parameter (default UTC), never in the agent's local
zone, so the result does not depend on the machine.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser

from server.mapping.errors import ParamError, StepError
from server.mapping.functions.registry import CompileContext, ParamSpec, StepFn, register
from server.mapping.valuetypes import json_type_name

UTC = dt.UTC
_EPOCH_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def zone(name: Any, param: str = "timezone") -> dt.tzinfo:
    if not isinstance(name, str) or not name:
        raise ParamError(param, "must be an IANA time zone name such as 'Europe/Paris'")
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParamError(param, f"'{name}' is not a known time zone") from None


def _tzinfos(name: str | None, offset: int | None) -> dt.tzinfo | None:
    """Resolve zone names for dateutil without consulting the machine's local zone."""
    if offset is not None:
        return dt.timezone(dt.timedelta(seconds=offset))
    if not name:
        return None
    if name and name.upper() in ("UTC", "GMT", "UT", "Z"):
        return UTC
    raise StepError(f"parse_datetime: unknown time zone name '{(name or '')[:10]}'")


def _parse_text(text: str, fmt: str | None, tz: dt.tzinfo) -> dt.datetime:
    text = text.strip()
    if len(text) > 100:
        raise StepError("parse_datetime: the text is too long to be a date")
    try:
        if fmt is None or fmt == "iso":
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        elif fmt == "rfc2822":
            parsed = parsedate_to_datetime(text)
        elif fmt == "auto":
            parsed = dateutil_parser.parse(text, tzinfos=_tzinfos)
        else:
            parsed = dt.datetime.strptime(text, fmt)
    except (ValueError, TypeError, OverflowError, dateutil_parser.ParserError):
        shown = text[:40]
        raise StepError(f"parse_datetime: '{shown}' does not match format {fmt or 'iso'}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


@register("parse_datetime", category="date", input=("string", "number", "integer", "datetime"),
          output="datetime",
          params=[ParamSpec("format", "string", description="'iso' (default), 'rfc2822', "
                            "'auto' (lenient), or a strptime format such as '%d/%m/%Y %H:%M'."),
                  ParamSpec("timezone", "timezone", default="UTC",
                            description="Zone of inputs that carry none."),
                  ParamSpec("unit", "string", default="s", choices=tuple(_EPOCH_UNITS),
                            description="Unit of numeric epoch timestamps.")],
          description="Parse text or an epoch number into a date-time (UTC).")
def parse_datetime(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    fmt: str | None = params["format"]
    tz = zone(params["timezone"])
    divisor = _EPOCH_UNITS[params["unit"]]

    def run(value: Any, record: Any) -> dt.datetime:
        kind = type(value)
        if kind is int or kind is float:  # the usual epoch number, before the other checks
            try:
                return dt.datetime.fromtimestamp(value / divisor, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise StepError(f"parse_datetime: {value} is out of range") from None
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
        if isinstance(value, str):
            return _parse_text(value, fmt, tz)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return dt.datetime.fromtimestamp(value / divisor, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise StepError(f"parse_datetime: {value} is out of range") from None
        raise StepError(f"parse_datetime expects text or a number, got {json_type_name(value)}")

    def iso_text(value: Any, record: Any) -> str:
        """``run(value, record).isoformat()``: the text the engine writes the result as."""
        if type(value) is int and seconds and 0 <= value < _FAST_EPOCH_END:
            return _epoch_iso(value)
        return run(value, record).isoformat()

    seconds = divisor == 1.0
    # For the engine: when this is a field's last step, it writes the ISO text directly.
    run.iso_text = iso_text  # type: ignore[attr-defined]
    return run


#: Epoch seconds below this (the year 2242) take the fast path of ``_epoch_iso``.
_FAST_EPOCH_END = 1 << 33
_DAY = 86_400
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_HOURS_MINUTES = tuple(f"T{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_SECONDS_UTC = tuple(f"{s:02d}+00:00" for s in range(60))
_DATES: dict[int, str] = {}
_DATES_KEPT = 4096


def _epoch_iso(value: int) -> str:
    """``datetime.fromtimestamp(value, UTC).isoformat()`` for whole epoch seconds from 1970
    on, without the datetime: that pair costs ~1 µs per record, a sync's dearest field."""
    days, second = divmod(value, _DAY)
    date = _DATES.get(days)
    if date is None:
        if len(_DATES) >= _DATES_KEPT:
            _DATES.clear()
        date = _DATES[days] = dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    minute, second = divmod(second, 60)
    return date + _HOURS_MINUTES[minute] + _SECONDS_UTC[second]


@register("format_datetime", category="date", input=("datetime", "string"), output="string",
          params=[ParamSpec("format", "string", default="iso",
                            description="'iso' or a strftime format such as '%Y-%m-%d'."),
                  ParamSpec("timezone", "timezone", default="UTC",
                            description="Zone to express the time in.")],
          description="Format a date-time (or ISO text) in a time zone.")
def format_datetime(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    fmt: str = params["format"]
    tz = zone(params["timezone"])
    if fmt != "iso":
        try:
            dt.datetime(2000, 1, 2, tzinfo=UTC).strftime(fmt)
        except ValueError as exc:
            raise ParamError("format", f"is not a valid strftime format: {exc}") from None

    def run(value: Any, record: Any) -> str:
        if isinstance(value, str):
            value = _parse_text(value, None, UTC)
        if not isinstance(value, dt.datetime):
            raise StepError(f"format_datetime expects a date-time, got {json_type_name(value)}")
        local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(tz)
        return local.isoformat() if fmt == "iso" else local.strftime(fmt)

    return run
