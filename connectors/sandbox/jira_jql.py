"""A small JQL interpreter for the Jira simulator: the clauses connectors actually send.

Supported: clauses joined by ``AND``; fields ``project``, ``key``/``issuekey``/``issue``,
``labels``, ``status``, ``statusCategory``, ``issuetype``, ``priority``, ``summary``,
``text``, ``updated``, ``created``; operators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``,
``~``, ``in``, ``not in``, ``is EMPTY``, ``is not EMPTY``; dates ``"yyyy-MM-dd HH:mm"``,
``"yyyy/MM/dd"``, relative ``-3d``/``-4h``/``-15m``, read in the searching user's time zone
(as Jira does); ``ORDER BY field [ASC|DESC], ...``. Anything else is a 400 with Jira's
``Error in the JQL Query`` message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["JqlError", "Query", "parse_jql"]

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|!~|[=<>~(),])'
    r"|(?P<word>[A-Za-z0-9_.\-/:\[\]]+))"
)
_FIELDS = {
    "project", "key", "issuekey", "issue", "labels", "status", "statuscategory", "issuetype",
    "type", "priority", "summary", "text", "updated", "created",
}
_DATE_FIELDS = {"updated", "created"}

Issue = dict[str, Any]
Predicate = Callable[[Issue], bool]


class JqlError(ValueError):
    """Invalid JQL; the message is what Jira puts in ``errorMessages``."""


@dataclass
class Query:
    predicates: list[Predicate]
    order: list[tuple[str, bool]]  # (field, descending)
    bounded: bool

    def matches(self, issue: Issue) -> bool:
        return all(p(issue) for p in self.predicates)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{text[pos]}' is a reserved "
                           f"JQL character. (line 1, character {pos + 1})")
        token = match.group("str") or match.group("op") or match.group("word")
        out.append(token)
        pos = match.end()
    return out


def _unquote(token: str) -> str:
    if token[:1] in "\"'" and token[-1:] == token[:1]:
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _date(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    rel = re.fullmatch(r"([-+]?)(\d+)([wdhm])", value.strip())
    if rel:
        amount = int(rel.group(2)) * (-1 if rel.group(1) == "-" else 1)
        unit = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}[rel.group(3)]
        return now + timedelta(**{unit: amount})
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{value}' for field 'updated' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def parse_jql(
    text: str,
    *,
    field_value: Callable[[Issue, str], Any],
    zone: ZoneInfo,
    now: datetime | None = None,
) -> Query:
    """Parse ``text``; ``field_value(issue, field)`` reads a (lower-cased) field of an issue."""
    now = now or datetime.now(UTC)
    tokens = _tokens(text)
    order: list[tuple[str, bool]] = []
    lowered = [t.lower() for t in tokens]
    for i in range(len(lowered) - 1):
        if lowered[i] == "order" and lowered[i + 1] == "by":
            order = _order(tokens[i + 2 :])
            tokens = tokens[:i]
            break
    predicates: list[Predicate] = []
    pos = 0
    while pos < len(tokens):
        predicate, pos = _clause(tokens, pos, field_value, zone, now)
        predicates.append(predicate)
        if pos < len(tokens):
            if tokens[pos].lower() != "and":
                raise JqlError(
                    f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got "
                    f"'{tokens[pos]}'."
                )
            pos += 1
            if pos == len(tokens):
                raise JqlError("Error in the JQL Query: Expecting a field name at the end.")
    return Query(predicates, order, bounded=bool(predicates))


def _order(tokens: list[str]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    parts = [p for p in " ".join(tokens).split(",") if p.strip()]
    if not parts:
        raise JqlError("Error in the JQL Query: Expecting a field name after 'order by'.")
    for part in parts:
        words = part.split()
        name = words[0].lower()
        if name not in _FIELDS:
            raise JqlError(f"Not able to sort using field '{words[0]}'.")
        descending = len(words) > 1 and words[1].lower() == "desc"
        order.append((name, descending))
    return order


def _clause(
    tokens: list[str], pos: int, value_of: Callable[[Issue, str], Any], zone: ZoneInfo,
    now: datetime,
) -> tuple[Predicate, int]:
    field = tokens[pos].lower()
    if field not in _FIELDS:
        raise JqlError(
            f"Field '{tokens[pos]}' does not exist or you do not have permission to view it."
        )
    pos += 1
    if pos >= len(tokens):
        raise JqlError("Error in the JQL Query: Expecting an operator at the end of the query.")
    op = tokens[pos].lower()
    pos += 1
    if op == "not" and pos < len(tokens) and tokens[pos].lower() == "in":
        op, pos = "not in", pos + 1
    elif op == "is" and pos < len(tokens) and tokens[pos].lower() == "not":
        op, pos = "is not", pos + 1
    if op in ("in", "not in"):
        if pos >= len(tokens) or tokens[pos] != "(":
            raise JqlError("Error in the JQL Query: Expecting '(' after 'in'.")
        values: list[str] = []
        pos += 1
        while pos < len(tokens) and tokens[pos] != ")":
            if tokens[pos] != ",":
                values.append(_unquote(tokens[pos]))
            pos += 1
        pos += 1
        wanted = {v.lower() for v in values}
        negate = op == "not in"
        return (lambda issue: _any_in(value_of(issue, field), wanted) != negate), pos
    if pos >= len(tokens):
        raise JqlError("Error in the JQL Query: Expecting a value at the end of the query.")
    raw = _unquote(tokens[pos])
    pos += 1
    if op in ("is", "is not"):
        if raw.lower() not in ("empty", "null"):
            raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'is'.")
        empty = op == "is"
        return (lambda issue: (not value_of(issue, field)) == empty), pos
    if field in _DATE_FIELDS:
        if op not in ("=", "!=", ">", ">=", "<", "<="):
            raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")
        moment = _date(raw, zone, now).astimezone(UTC)
        return _compare(field, op, moment, value_of), pos
    if op == "~":
        needle = raw.lower()
        return (lambda issue: needle in str(value_of(issue, field) or "").lower()), pos
    if op in ("=", "!="):
        wanted = {raw.lower()}
        negate = op == "!="
        return (lambda issue: _any_in(value_of(issue, field), wanted) != negate), pos
    raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")


def _any_in(value: Any, wanted: set[str]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(str(v).lower() in wanted for v in values if v is not None)


def _compare(
    field: str, op: str, moment: datetime, value_of: Callable[[Issue, str], Any]
) -> Predicate:
    def test(issue: Issue) -> bool:
        value = value_of(issue, field)
        if not isinstance(value, datetime):
            return False
        return {
            "=": value == moment, "!=": value != moment, ">": value > moment,
            ">=": value >= moment, "<": value < moment, "<=": value <= moment,
        }[op]

    return test
