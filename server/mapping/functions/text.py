"""Basic and text functions: copy, constant, default, case, trim, concat/split/join, regex."""

from __future__ import annotations

import re
from typing import Any

from server.mapping.errors import ParamError, StepError
from server.mapping.functions.registry import (
    CompileContext,
    ParamSpec,
    StepFn,
    register,
    require_list,
    require_str,
)
from server.mapping.regex_guard import MAX_INPUT, check_input, compile_guarded
from server.mapping.valuetypes import json_type_name

_ANY = ("any",)
_STR = ("string",)


def _as_text(value: Any, fn: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise StepError(f"{fn} expects strings or numbers, got {json_type_name(value)}")


@register("copy", category="basic", input=_ANY, output="same",
          description="Copy the source value unchanged (a rename when source and target differ).")
def copy(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    return lambda value, record: value


@register("constant", category="basic", input=_ANY, output="any", accepts_null=True,
          params=[ParamSpec("value", "any", required=True, description="The value to emit.")],
          description="Emit a fixed value, whatever the source.")
def constant(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    fixed = params["value"]
    return lambda value, record: fixed


@register("default", category="basic", input=_ANY, output="same", accepts_null=True,
          params=[ParamSpec("value", "any", required=True, description="The fallback."),
                  ParamSpec("on_empty", "boolean", default=False,
                            description="Also replace empty strings and arrays.")],
          description="Use a fallback when the value is null (or empty).")
def default(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    fallback = params["value"]
    if params["on_empty"]:
        return lambda value, record: fallback if value is None or value in ("", []) else value
    return lambda value, record: fallback if value is None else value


@register("lower", category="text", input=_STR, output="string", description="Lower-case.")
def lower(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> str:
        if type(value) is str:
            return value.lower()
        return require_str(value, "lower").lower()

    return run


@register("upper", category="text", input=_STR, output="string", description="Upper-case.")
def upper(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    def run(value: Any, record: Any) -> str:
        if type(value) is str:
            return value.upper()
        return require_str(value, "upper").upper()

    return run


@register("trim", category="text", input=_STR, output="string",
          params=[ParamSpec("chars", "string", description="Characters to strip (default: "
                            "whitespace).")],
          description="Strip leading and trailing whitespace (or the given characters).")
def trim(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    chars = params["chars"]
    def run(value: Any, record: Any) -> str:
        if type(value) is str:
            return value.strip(chars)
        return require_str(value, "trim").strip(chars)

    return run


@register("concat", category="text", input=("array", "string", "number", "integer"),
          output="string",
          params=[ParamSpec("separator", "string", default="", description="Between parts."),
                  ParamSpec("prefix", "string", default="", description="Before the result."),
                  ParamSpec("suffix", "string", default="", description="After the result."),
                  ParamSpec("skip_empty", "boolean", default=True,
                            description="Leave out null and empty parts.")],
          description="Join several values (a list of sources, or an array) into one string.")
def concat(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    sep: str = params["separator"]
    prefix: str = params["prefix"]
    suffix: str = params["suffix"]
    skip = params["skip_empty"]

    def run(value: Any, record: Any) -> str:
        if type(value) is list and len(value) == 2:  # the usual two sources, both text
            first, second = value
            if type(first) is str and type(second) is str and (
                    not skip or (first and second)):
                return prefix + first + sep + second + suffix
        parts = value if isinstance(value, list) else [value]
        texts = [
            "" if p is None else _as_text(p, "concat")
            for p in parts
            if not (skip and (p is None or p == ""))
        ]
        return str(prefix + sep.join(texts) + suffix)

    return run


@register("split", category="text", input=_STR, output="array",
          params=[ParamSpec("separator", "string", description="Default: any whitespace."),
                  ParamSpec("max_split", "integer", default=-1, description="-1: no limit."),
                  ParamSpec("trim", "boolean", default=True, description="Trim each part."),
                  ParamSpec("drop_empty", "boolean", default=True,
                            description="Leave out empty parts.")],
          description="Split a string into an array of strings.")
def split(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    sep, max_split = params["separator"], params["max_split"]
    if sep == "":
        raise ParamError("separator", "must not be empty")
    trim_parts, drop = params["trim"], params["drop_empty"]

    def run(value: Any, record: Any) -> list[str]:
        parts = require_str(value, "split").split(sep, max_split)
        if trim_parts:
            parts = [p.strip() for p in parts]
        return [p for p in parts if p] if drop else parts

    return run


@register("join", category="text", input=("array",), output="string",
          params=[ParamSpec("separator", "string", default=",", description="Between items.")],
          description="Join an array's items (null items left out) into one string.")
def join(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    sep = params["separator"]

    def run(value: Any, record: Any) -> str:
        items = require_list(value, "join")
        return str(sep).join(_as_text(x, "join") for x in items if x is not None)

    return run


@register("replace", category="text", input=_STR, output="string",
          params=[ParamSpec("old", "string", required=True),
                  ParamSpec("new", "string", default="")],
          description="Replace every occurrence of a plain substring.")
def replace(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    old, new = params["old"], params["new"]
    if old == "":
        raise ParamError("old", "must not be empty")
    return lambda value, record: require_str(value, "replace").replace(old, new)


_REGEX_PARAMS = (
    ParamSpec("pattern", "regex", required=True, description="A Python regular expression."),
    ParamSpec("ignore_case", "boolean", default=False),
    ParamSpec("max_input", "integer", default=MAX_INPUT,
              description="Longest input matched, in characters (guards run time)."),
)


def _guarded_text(value: Any, fn: str, limit: int) -> str:
    text = require_str(value, fn)
    problem = check_input(text, limit)
    if problem is not None:
        raise StepError(f"{fn}: {problem}")
    return text


@register("regex_extract", category="text", input=_STR, output="any",
          params=[*_REGEX_PARAMS,
                  ParamSpec("group", "any", description="Group number or name (default: the "
                            "first group, or the whole match when there is none)."),
                  ParamSpec("all", "boolean", default=False,
                            description="Return every match as an array.")],
          description="Extract the first (or every) match of a regular expression; null if none.")
def regex_extract(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    pattern = compile_guarded(params["pattern"], ignore_case=params["ignore_case"])
    group = params["group"]
    if group is None:
        group = 1 if pattern.groups else 0
    if isinstance(group, bool) or not isinstance(group, int | str):
        raise ParamError("group", "must be a group number or name")
    if isinstance(group, int) and not 0 <= group <= pattern.groups:
        raise ParamError("group", f"the pattern has {pattern.groups} group(s), not {group}")
    if isinstance(group, str) and group not in pattern.groupindex:
        raise ParamError("group", f"the pattern has no group named '{group}'")
    limit: int = params["max_input"]
    if params["all"]:
        return lambda value, record: [
            m.group(group) for m in pattern.finditer(_guarded_text(value, "regex_extract", limit))
        ]

    def run(value: Any, record: Any) -> Any:
        match = pattern.search(_guarded_text(value, "regex_extract", limit))
        return match.group(group) if match else None

    return run


@register("regex_replace", category="text", input=_STR, output="string",
          params=[*_REGEX_PARAMS,
                  ParamSpec("replacement", "string", default="",
                            description=r"Text; \1 or \g<name> insert groups."),
                  ParamSpec("count", "integer", default=0, description="0: replace all.")],
          description="Replace matches of a regular expression.")
def regex_replace(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    pattern = compile_guarded(params["pattern"], ignore_case=params["ignore_case"])
    replacement, count = params["replacement"], params["count"]
    try:  # re parses the template before matching: bad group references fail here
        pattern.sub(replacement, "")
    except (re.error, IndexError) as exc:
        raise ParamError("replacement", f"is invalid: {exc}") from None
    limit: int = params["max_input"]
    return lambda value, record: pattern.sub(
        replacement, _guarded_text(value, "regex_replace", limit), count=count
    )
