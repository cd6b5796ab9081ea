"""The conformance test kit for connectors (also a pytest plugin).

One call gives a connector the standard suite::

    # tests/test_acme.py
    from connectors.sdk.testing import conformance_tests

    TestAcme = conformance_tests(
        AcmeConnector,
        config="acme_config",            # a dict, or the name of a pytest fixture giving one
        credentials="acme_credentials",  # optional: an object, or a fixture name
    )

The suite checks, and explains every failure in one readable report:

* metadata and config schema are valid (secret fields are marked ``writeOnly``);
* ``check`` passes against the given server;
* ``discover`` returns valid stream schemas whose primary key and cursor fields exist;
* ``read`` of every stream yields records valid against the stream schema and ends with a
  JSON-serializable state;
* state round-trips: re-reading from the final state re-emits no record, and resuming from a
  mid-stream checkpoint loses and duplicates nothing;
* no secret value (from the config, or given) appears in any log line or check result.

Use :func:`run_conformance` directly for a :class:`ConformanceReport` without raising. As a
pytest plugin (entry point ``pytest11``) it also provides the ``loopback_context`` fixture.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from connectors.sdk.config import secret_values
from connectors.sdk.connector import Connector
from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import ConnectorError
from connectors.sdk.fields import is_secret_schema
from connectors.sdk.http.client import RetryPolicy
from connectors.sdk.messages import RecordMessage, SkippedRecordMessage, StateMessage
from connectors.sdk.metadata import ConnectorMetadata
from connectors.sdk.schema import record_errors, schema_errors
from connectors.sdk.streams import StreamDescriptor, SyncMode, get_path

__all__ = [
    "CheckOutcome",
    "ConformanceError",
    "ConformanceReport",
    "conformance_tests",
    "loopback_context",
    "run_conformance",
    "static_conformance",
]

MAX_RECORDS = 10_000
MAX_REPORTED = 3  # problems listed per check before "... and N more"


class ConformanceError(AssertionError):
    """The connector failed conformance checks; the message lists each failure."""


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    message: str = ""


@dataclass
class ConformanceReport:
    connector: str
    outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failures(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.passed]

    def add(self, name: str, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_REPORTED])
        if len(problems) > MAX_REPORTED:
            shown.append(f"... and {len(problems) - MAX_REPORTED} more")
        self.outcomes.append(CheckOutcome(name, not problems, "; ".join(shown)))

    def render(self) -> str:
        total = len(self.outcomes)
        summary = (
            f"passed all {total} conformance checks:"
            if self.ok
            else f"failed {len(self.failures)} of {total} conformance checks:"
        )
        lines = [f"Connector {self.connector!r} {summary}"]
        for outcome in self.outcomes:
            mark = "ok  " if outcome.passed else "FAIL"
            detail = "" if outcome.passed else f": {outcome.message}"
            lines.append(f"  {mark} {outcome.name}{detail}")
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        if not self.ok:
            raise ConformanceError(self.render())


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {record.exc_info[1]!r}"
        self.lines.append((record.name, text))


@contextmanager
def _capture_logs() -> Iterator[_Capture]:
    root = logging.getLogger()
    handler = _Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _unmarked_secrets(model: type[BaseModel], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    problems = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", None) or ()
        secret_type = annotation in (SecretStr, SecretBytes) or any(
            a in (SecretStr, SecretBytes) for a in args
        )
        prop = properties.get(info.alias or name, {})
        marked = is_secret_schema(prop) or any(
            is_secret_schema(option) for option in prop.get("anyOf", [])
        )
        if secret_type and not marked:
            problems.append(f"secret field {name!r} is not marked writeOnly/password")
    return problems


def static_conformance(connector_class: type[Connector[Any]]) -> ConformanceReport:
    """The checks that need no server: metadata and config schema."""
    report = ConformanceReport(_name(connector_class))
    problems: list[str] = []
    metadata = getattr(connector_class, "metadata", None)
    if not isinstance(metadata, ConnectorMetadata):
        problems.append("'metadata' is not a ConnectorMetadata")
    else:
        try:
            ConnectorMetadata.model_validate(metadata.model_dump())
        except ValidationError as exc:
            problems += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    report.add("metadata is valid", problems)
    problems = []
    try:
        schema = connector_class.config_schema()
    except (TypeError, ValueError, AttributeError) as exc:
        report.add("config schema is valid", [f"cannot produce a JSON Schema: {exc}"])
        return report
    problems += schema_errors(schema)
    if schema.get("type") != "object":
        problems.append("the config schema is not an object schema")
    config_model = getattr(connector_class, "config_model", None)
    if isinstance(config_model, type) and issubclass(config_model, BaseModel):
        problems += _unmarked_secrets(config_model, schema)
    report.add("config schema is valid", problems)
    return report


def _name(connector_class: type[Any]) -> str:
    metadata = getattr(connector_class, "metadata", None)
    return getattr(metadata, "key", None) or connector_class.__name__


def _describe_error(exc: ConnectorError) -> str:
    return f"{type(exc).__name__}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")


def _stream_problems(stream: StreamDescriptor) -> list[str]:
    problems = [f"schema {p}" for p in schema_errors(stream.json_schema)]
    properties = stream.json_schema.get("properties")
    if isinstance(properties, Mapping):
        for key in stream.primary_key:
            if key.split(".")[0] not in properties:
                problems.append(f"primary key field {key!r} is not in the schema")
        if stream.cursor_field and stream.cursor_field.split(".")[0] not in properties:
            problems.append(f"cursor field {stream.cursor_field!r} is not in the schema")
    if SyncMode.FULL_REFRESH not in stream.sync_modes:
        problems.append("does not support full_refresh")
    if stream.cursor_field and SyncMode.INCREMENTAL not in stream.sync_modes:
        problems.append("has a cursor field but no incremental mode")
    return problems


@dataclass
class _Read:
    messages: list[Any]
    records: list[dict[str, Any]]
    states: list[tuple[int, dict[str, Any]]]  # (records before it, state)
    truncated: bool = False


async def _read(connector: Connector[Any], stream: str, state: Any, limit: int) -> _Read:
    result = _Read([], [], [])
    async for message in connector.read(stream, state):
        result.messages.append(message)
        if isinstance(message, RecordMessage):
            result.records.append(message.data)
            if len(result.records) > limit:
                result.truncated = True
                break
        elif isinstance(message, StateMessage):
            result.states.append((len(result.records), message.state))
    return result


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def _json_problem(state: Any) -> str | None:
    try:
        if json.loads(json.dumps(state)) != state:
            return "state changes when serialized to JSON"
    except (TypeError, ValueError) as exc:
        return f"state is not JSON-serializable ({exc})"
    return None


async def _read_checks(
    report: ConformanceReport,
    connector: Connector[Any],
    stream: StreamDescriptor,
    *,
    expect_records: bool,
    limit: int,
) -> None:
    name = stream.name
    try:
        first = await _read(connector, name, None, limit)
    except ConnectorError as exc:
        report.add(f"read {name}", [f"failed: {_describe_error(exc)}"])
        return
    problems: list[str] = []
    if expect_records and not first.records:
        problems.append("returned no records (the test server should hold some)")
    for index, record in enumerate(first.records):
        errors = record_errors(stream.json_schema, record)
        if errors:
            problems.append(f"record {index} does not match the stream schema: {errors[0]}")
    ended_with_state = bool(first.messages) and isinstance(first.messages[-1], StateMessage)
    if not ended_with_state and not first.truncated:
        problems.append("the read did not end with a state message")
    for _, state in first.states:
        issue = _json_problem(state)
        if issue:
            problems.append(issue)
            break
    skipped = [m for m in first.messages if isinstance(m, SkippedRecordMessage)]
    if skipped and expect_records:
        problems.append(f"skipped {len(skipped)} records, first: {skipped[0].reason}")
    report.add(f"read {name}: records valid, state at the end", problems)
    if first.truncated or problems or SyncMode.INCREMENTAL not in stream.sync_modes:
        return
    await _state_checks(report, connector, stream, first, limit)


async def _state_checks(
    report: ConformanceReport,
    connector: Connector[Any],
    stream: StreamDescriptor,
    first: _Read,
    limit: int,
) -> None:
    name = stream.name
    problems: list[str] = []
    final_state = json.loads(json.dumps(first.states[-1][1]))
    seen = {_canonical(r) for r in first.records}
    try:
        again = await _read(connector, name, final_state, limit)
    except ConnectorError as exc:
        report.add(f"state {name}", [f"re-read from state failed: {_describe_error(exc)}"])
        return
    repeated = [r for r in again.records if _canonical(r) in seen]
    if repeated:
        key = _record_label(stream, repeated[0])
        problems.append(
            f"re-reading from the final state returned {len(repeated)} record(s) already read "
            f"(first: {key})"
        )
    mid = [(count, state) for count, state in first.states[:-1] if 0 < count < len(first.records)]
    if mid:
        count, state = mid[0]
        before = {_canonical(r) for r in first.records[:count]}
        after = [_canonical(r) for r in first.records[count:]]
        try:
            resumed = await _read(connector, name, json.loads(json.dumps(state)), limit)
        except ConnectorError as exc:
            problems.append(f"resume from a checkpoint failed: {_describe_error(exc)}")
        else:
            got = [_canonical(r) for r in resumed.records]
            duplicated = [r for r in got if r in before]
            lost = [r for r in after if r not in set(got)]
            if duplicated:
                problems.append(
                    f"resuming from the checkpoint after record {count} re-read "
                    f"{len(duplicated)} record(s)"
                )
            if lost:
                problems.append(
                    f"resuming from the checkpoint after record {count} lost {len(lost)} record(s)"
                )
    report.add(f"state {name}: round-trip and resume", problems)


def _record_label(stream: StreamDescriptor, record: Mapping[str, Any]) -> str:
    if stream.primary_key:
        return ", ".join(f"{k}={get_path(record, k)!r}" for k in stream.primary_key)
    return "a record without primary key"


async def run_conformance(
    connector_class: type[Connector[Any]],
    *,
    config: Mapping[str, Any] | BaseModel,
    credentials: Any = None,
    context: ConnectorContext | None = None,
    streams: Sequence[str] | None = None,
    expect_records: bool = True,
    secrets: Sequence[str] = (),
    max_records: int = MAX_RECORDS,
) -> ConformanceReport:
    """Run the whole suite and return the report (never raises for connector failures)."""
    report = static_conformance(connector_class)
    context = context or loopback_context_value()
    with _capture_logs() as logs:
        try:
            connector = connector_class(config, credentials=credentials, context=context)
        except ConnectorError as exc:
            report.add("config is accepted", [_describe_error(exc)])
            return report
        report.add("config is accepted", [])
        known_secrets = [s for s in (*secret_values(connector.config), *secrets) if len(s) >= 4]
        try:
            await _operational_checks(
                report, connector, streams, expect_records, max_records, known_secrets
            )
        finally:
            await connector.aclose()
    leaks = [
        f"logger {logger!r} logged a secret value: {_mask(text, known_secrets)[:160]!r}"
        for logger, text in logs.lines
        if any(secret in text for secret in known_secrets)
    ]
    report.add("no secret in any log line", leaks)
    return report


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<SECRET>")
    return text


async def _operational_checks(
    report: ConformanceReport,
    connector: Connector[Any],
    streams: Sequence[str] | None,
    expect_records: bool,
    max_records: int,
    known_secrets: Sequence[str],
) -> None:
    result = await connector.check()
    check_problems = [
        f"{item.name.value} failed: {item.cause}" + (f" (hint: {item.hint})" if item.hint else "")
        for item in result.failures
    ]
    rendered = json.dumps(result.to_dict(), default=str)
    if any(secret in rendered for secret in known_secrets):
        check_problems.append("the check result contains a secret value")
    report.add("check passes", check_problems)
    try:
        discovered = await connector.discover()
    except ConnectorError as exc:
        report.add("discover", [f"failed: {_describe_error(exc)}"])
        return
    problems = [] if discovered else ["no streams were discovered"]
    for stream in discovered:
        problems += [f"stream {stream.name!r}: {p}" for p in _stream_problems(stream)]
    report.add("discover returns valid streams", problems)
    wanted = list(streams) if streams is not None else [s.name for s in discovered]
    by_name = {s.name: s for s in discovered}
    for name in wanted:
        if name not in by_name:
            report.add(f"read {name}", [f"stream {name!r} was not discovered"])
            continue
        await _read_checks(
            report, connector, by_name[name], expect_records=expect_records, limit=max_records
        )


def loopback_context_value() -> ConnectorContext:
    """A context for tests against loopback servers: loopback allowed, quick retries."""
    return ConnectorContext(
        allow_loopback=True,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01, max_retry_after=5),
        http_timeout=10,
    )


@pytest.fixture
def loopback_context() -> ConnectorContext:
    """pytest fixture: :func:`loopback_context_value`."""
    return loopback_context_value()


def conformance_tests(
    connector_class: type[Connector[Any]],
    *,
    config: Mapping[str, Any] | BaseModel | str,
    credentials: Any = None,
    context: ConnectorContext | str | None = None,
    streams: Sequence[str] | None = None,
    expect_records: bool = True,
    secrets: Sequence[str] = (),
) -> type:
    """A pytest test class running the conformance suite on ``connector_class``.

    ``config``, ``credentials`` and ``context`` may be pytest fixture names (strings), so
    they can depend on a server fixture.
    """

    def resolve(request: pytest.FixtureRequest, value: Any) -> Any:
        return request.getfixturevalue(value) if isinstance(value, str) else value

    class ConformanceSuite:
        __test__ = True

        def test_metadata_and_config_schema(self) -> None:
            static_conformance(connector_class).raise_for_failures()

        async def test_conformance(self, request: pytest.FixtureRequest) -> None:
            report = await run_conformance(
                connector_class,
                config=resolve(request, config),
                credentials=resolve(request, credentials),
                context=resolve(request, context),
                streams=streams,
                expect_records=expect_records,
                secrets=secrets,
            )
            report.raise_for_failures()

    ConformanceSuite.__name__ = ConformanceSuite.__qualname__ = (
        f"TestConformance{connector_class.__name__}"
    )
    return ConformanceSuite
