"""Errors and findings of the mapping engine.

- ``FieldError``: one field of one record could not be mapped (runtime, per record).
- ``Problem``: something wrong with a mapping definition (design time, per field).
- ``StepError``: raised by a transformation step; the engine turns it into a ``FieldError``.
- ``ParamError``: a step's parameters are invalid; the compiler turns it into a ``Problem``.
- ``MappingCompileError``: ``compile_mapping`` refused a mapping; carries its ``Problem`` list.

Messages never contain secret values: values appear only as a short preview, masked for fields
marked secret.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning"]

PREVIEW_LIMIT = 80
MASK = "***"


class FieldError(BaseModel):
    """A field of one record that failed to map or validate."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str
    value_preview: str | None = None


class Problem(BaseModel):
    """A defect in a mapping definition, named by the target field it concerns.

    ``field`` is the target field path, or a top-level key of the mapping (``"target"``,
    ``"source"``) when the problem is not about one field.
    """

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str
    severity: Severity = "error"


class StepError(Exception):
    """A transformation step cannot handle this value (a data problem, not a bug)."""


class ParamError(ValueError):
    """A step's parameters are invalid; ``param`` names the parameter ("" for the step).

    ``code`` becomes the ``Problem.code``: ``bad_params``, ``bad_expression`` or ``unsafe``.
    """

    def __init__(self, param: str, message: str, *, code: str = "bad_params") -> None:
        super().__init__(f"param '{param}': {message}" if param else message)
        self.param = param
        self.code = code


class MappingCompileError(ValueError):
    """The mapping cannot be compiled; ``problems`` lists every reason, each with its field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"mapping is invalid: {summary}{more}")


_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\w.+-]*")


def redact(message: str) -> str:
    """A step's message with quoted text and numbers masked (for fields marked secret)."""
    return _NUMBER.sub(MASK, _QUOTED.sub(f"'{MASK}'", message))


_REPR = reprlib.Repr()
_REPR.maxstring = PREVIEW_LIMIT
_REPR.maxother = PREVIEW_LIMIT
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 5


def preview(value: Any, *, secret: bool = False) -> str | None:
    """A short, single-line preview of a value for error messages; masked when secret.

    ``reprlib`` bounds the work: a huge string or a deeply nested record costs no more than a
    small one (plain ``repr`` would copy it whole, or overflow the stack).
    """
    if value is None:
        return None
    if secret:
        return MASK
    text = _REPR.repr(value)
    if len(text) > PREVIEW_LIMIT:
        text = text[: PREVIEW_LIMIT - 3] + "..."
    return text
