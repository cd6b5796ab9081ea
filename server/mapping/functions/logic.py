"""Logic and expressions: coalesce, if/then/else, and JMESPath queries (the safe language).

JMESPath queries JSON data and nothing else: no attribute access, no calls into Python, no
imports. Expressions are compiled once and rejected if they do not parse or name Python
internals (see ``server.mapping.sandbox``).
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors

from server.mapping.errors import ParamError, StepError
from server.mapping.functions.registry import CompileContext, ParamSpec, StepFn, register
from server.mapping.sandbox import find_unsafe

MAX_EXPRESSION = 2000


@register("coalesce", category="logic", input=("any",), output="any", accepts_null=True,
          params=[ParamSpec("skip_empty", "boolean", default=True,
                            description="Also skip empty strings and arrays.")],
          description="The first non-null value of a list of sources (or of an array).")
def coalesce(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    skip_empty = params["skip_empty"]

    def run(value: Any, record: Any) -> Any:
        if not isinstance(value, list):
            return value
        for item in value:
            if item is None or (skip_empty and item in ("", [])):
                continue
            return item
        return None

    return run


@register("if", category="logic", input=("any",), output="any", accepts_null=True,
          params=[ParamSpec("when", "condition", required=True,
                            description="A condition; fields in it are read from the record."),
                  ParamSpec("then", "steps", default=[], description="Steps when true."),
                  ParamSpec("else", "steps", default=[], description="Steps when false.")],
          description="Run one list of steps or another depending on a condition.")
def if_(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    when = ctx.condition(params["when"], "when")
    then = ctx.steps(params["then"], "then")
    otherwise = ctx.steps(params["else"], "else")

    def run(value: Any, record: Any) -> Any:
        if when(value, record):
            return then(value, record)
        return otherwise(value, record)

    return run


def compile_expression(expression: Any, param: str = "expression") -> Any:
    """A compiled JMESPath expression, or ParamError saying why not."""
    if not isinstance(expression, str) or not expression.strip():
        raise ParamError(param, "must be a non-empty JMESPath expression")
    if len(expression) > MAX_EXPRESSION:
        raise ParamError(param, f"is longer than {MAX_EXPRESSION} characters")
    unsafe = find_unsafe(expression)
    if unsafe is not None:
        raise ParamError(param, f"'{unsafe}' is not allowed in an expression", code="unsafe")
    try:
        return jmespath.compile(expression)
    except jmespath_errors.ParseError as exc:
        first = str(exc).splitlines()[0].rstrip(": ") if str(exc) else type(exc).__name__
        where = f" (position {exc.lex_position})" if exc.lex_position is not None else ""
        raise ParamError(param, f"does not parse: {first}{where}", code="bad_expression") from None
    except jmespath_errors.JMESPathError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParamError(param, f"does not parse: {message}", code="bad_expression") from None


@register("jmespath", category="logic", input=("any",), output="any", accepts_null=True,
          params=[ParamSpec("expression", "expression", required=True,
                            description="A JMESPath expression, e.g. \"tags[?key=='env'].value "
                            "| [0]\"."),
                  ParamSpec("scope", "string", default="value", choices=("value", "record"),
                            description="Query the current value or the whole source record.")],
          description="Query JSON with a JMESPath expression (https://jmespath.org).")
def jmespath_(params: dict[str, Any], ctx: CompileContext) -> StepFn:
    compiled = compile_expression(params["expression"])
    on_record = params["scope"] == "record"

    def run(value: Any, record: Any) -> Any:
        try:
            return compiled.search(record if on_record else value)
        except jmespath_errors.JMESPathError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StepError(f"jmespath: {message[:200]}") from None

    return run
