"""Conversions and lookups: to number/bool/string, lookup tables, hashes, e-mails, domains."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

from server.mapping.errors import ParamError, StepError
from server.mapping.functions.registry import (
    CompileContext,
    ParamSpec,
    StepFn,
    register,
    require_str,
)
from server.mapping.valuetypes import json_type_name


@register("to_number", category="convert", input=("string", "number", "integer", "boolean"),
          output="number",
          params=[ParamSpec("kind", "string", default="number",
                            choices=("number", "integer", "float"),
                            description="number: integer when whole, else float."),
                  ParamSpec("thousands_separator", "string", default="",
                            description="Removed before parsing, e.g. ','.")],
          description="Convert to a number; text like ' 1,234.5 ' with thousands_separator ','.")
def to_number(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    kind, thousands = params["kind"], params["thousands_separator"]

    def run(value: Any, record: Any) -> int | float:
        if isinstance(value, bool):
            number: int | float = int(value)
        elif isinstance(value, int | float):
            number = value
        elif isinstance(value, str):
            text = value.strip().replace(thousands, "") if thousands else value.strip()
            try:
                number = int(text) if re.fullmatch(r"[+-]?\d{1,40}", text) else float(text)
            except ValueError:
                raise StepError(f"to_number: '{text[:40]}' is not a number") from None
        else:
            raise StepError(f"to_number expects a string or number, got {json_type_name(value)}")
        if isinstance(number, float) and not math.isfinite(number):
            raise StepError("to_number: not a finite number")
        if kind == "float":
            return float(number)
        if kind == "integer":
            if isinstance(number, float) and not number.is_integer():
                raise StepError(f"to_number: {number} is not a whole number")
            return int(number)
        if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number

    return run


_TRUE = ("true", "t", "yes", "y", "1", "on", "enabled", "active")
_FALSE = ("false", "f", "no", "n", "0", "off", "disabled", "inactive", "")


@register("to_bool", category="convert", input=("string", "number", "integer", "boolean"),
          output="boolean",
          params=[ParamSpec("true_values", "string_list", description="Replaces the defaults: "
                            + ", ".join(_TRUE)),
                  ParamSpec("false_values", "string_list", description="Replaces the defaults: "
                            + ", ".join(repr(f) for f in _FALSE))],
          description="Convert to a boolean (text compared case-insensitively); else an error.")
def to_bool(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    trues = frozenset(v.lower() for v in params["true_values"] or _TRUE)
    falses = frozenset(v.lower() for v in params["false_values"] or _FALSE)

    def run(value: Any, record: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            if value in (0, 1):
                return bool(value)
            raise StepError(f"to_bool: {value} is neither 0 nor 1")
        text = require_str(value, "to_bool").strip().lower()
        if text in trues:
            return True
        if text in falses:
            return False
        raise StepError(f"to_bool: '{text[:40]}' is not a known true or false value")

    return run


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@register("to_string", category="convert", input=("any",), output="string",
          description="Convert to text: numbers as written, booleans as true/false, "
          "arrays and objects as compact JSON, dates as ISO 8601.")
def to_string(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> str:
        kind = type(value)  # exact types first, as _text would answer them
        if kind is str:
            return value  # type: ignore[no-any-return]
        if kind is bool:
            return "true" if value else "false"
        return _text(value)

    return run


@register("lookup", category="convert", input=("string", "number", "integer", "boolean"),
          output="any",
          params=[ParamSpec("table", "object", required=True,
                            description="Source value (as text) -> target value."),
                  ParamSpec("on_missing", "string", default="keep",
                            choices=("keep", "default", "null", "error"),
                            description="What a value not in the table becomes."),
                  ParamSpec("default", "any", description="Used when on_missing is 'default'."),
                  ParamSpec("case_insensitive", "boolean", default=False)],
          description="Translate values through a table, e.g. {'A': 'active', 'S': 'suspended'}.")
def lookup(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    fold = params["case_insensitive"]
    table = {(k.lower() if fold else k): v for k, v in params["table"].items()}
    if fold and len(table) != len(params["table"]):
        raise ParamError("table", "has keys that differ only by case")
    on_missing, fallback = params["on_missing"], params["default"]

    def run(value: Any, record: Any) -> Any:
        key = _text(value) if not isinstance(value, str) else value
        if fold:
            key = key.lower()
        try:
            return table[key]
        except KeyError:
            pass
        if on_missing == "keep":
            return value
        if on_missing == "default":
            return fallback
        if on_missing == "null":
            return None
        raise StepError(f"lookup: '{key[:40]}' is not in the table")

    return run


_ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "sha3_256", "blake2b")


@register("hash", category="convert", input=("any",), output="string",
          params=[ParamSpec("algorithm", "string", default="sha256", choices=_ALGORITHMS),
                  ParamSpec("salt", "string", default="",
                            description="Prepended to the text before hashing.")],
          description="Hex digest of the value (text as UTF-8; other values as canonical JSON).")
def hash_(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    algorithm, salt = params["algorithm"], params["salt"].encode()

    def run(value: Any, record: Any) -> str:
        h = hashlib.new(algorithm)
        h.update(salt + _text(value).encode())
        return h.hexdigest()

    return run


_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)


@register("extract_email", category="text", input=("string",), output="any",
          params=[ParamSpec("all", "boolean", default=False, description="Every address, as an "
                            "array."),
                  ParamSpec("lowercase", "boolean", default=True)],
          description="Find an e-mail address in text like 'Ann <Ann@Example.com>'; null if none.")
def extract_email(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    every, low = params["all"], params["lowercase"]

    def norm(address: str) -> str:
        return address.lower() if low else address

    def run(value: Any, record: Any) -> Any:
        text = require_str(value, "extract_email")[:10_000]
        if every:
            return [norm(m.group(0)) for m in _EMAIL.finditer(text)]
        match = _EMAIL.search(text)
        return norm(match.group(0)) if match else None

    return run


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


@register("extract_domain", category="text", input=("string",), output="string",
          description="The domain of an e-mail address, URL or host name, lower-cased; null if "
          "there is none.")
def extract_domain(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> str | None:
        text = require_str(value, "extract_domain").strip()[:2048]
        if "://" in text:
            try:
                host = urlsplit(text).hostname or ""
            except ValueError:
                return None
        else:
            match = _EMAIL.search(text)
            host = match.group(0).rsplit("@", 1)[1] if match else text.split("/", 1)[0]
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        host = host.lower().rstrip(".")
        return host if host and _HOST.fullmatch(host) else None

    return run
