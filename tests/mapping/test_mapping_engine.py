"""The engine: apply, validation rules, validate/test reporting, sandbox, model round-trip."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from server.mapping import (
    FieldError,
    MappingCompileError,
    MappingSpec,
    compile_mapping,
    required_targets,
    test_mapping,
    validate_mapping,
)
from server.mapping.paths import PathError, compile_getter, parse_path
from tests.mapping.helpers import one_field

IDENTITY = {
    "name": "okta users",
    "version": 3,
    "source": "okta.users",
    "target": "identity",
    "source_schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string"},
            "lastLogin": {"type": ["string", "null"]},
            "profile": {"type": "object", "properties": {
                "login": {"type": "string"}, "email": {"type": "string"},
                "mfaCount": {"type": "integer"},
                "recoveryToken": {"type": "string", "writeOnly": True}}},
            "groups": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}}}},
        },
    },
    "fields": [
        {"target": "external_id", "source": "id"},
        {"target": "username", "source": "profile.login", "steps": ["trim", "lower"]},
        {"target": "email", "source": "profile.email", "steps": ["extract_email"],
         "rules": {"required": True}},
        {"target": "status", "source": "status", "steps": [
            {"function": "lookup", "params": {"table": {"ACTIVE": "active", "SUSPENDED":
                                                        "suspended"}, "on_missing": "keep"}}]},
        {"target": "last_login_at", "source": "lastLogin", "steps": ["parse_datetime"]},
        {"target": "group_external_ids", "source": "groups[*].id"},
        {"target": "attributes.okta_status", "source": "status"},
    ],
}


def identity_spec(**changes: Any) -> MappingSpec:
    return MappingSpec.model_validate({**IDENTITY, **changes})


def test_apply_maps_a_record(identity_record: dict[str, Any]) -> None:
    identity_record["id"] = "00u1"
    result = compile_mapping(identity_spec()).apply(identity_record)
    assert result.errors == []
    assert result.ok
    assert result.output == {
        "external_id": "00u1",
        "username": "ann.lee",
        "email": "ann.lee@example.com",
        "status": "active",
        "last_login_at": "2024-05-01T08:00:00+00:00",
        "group_external_ids": ["g1", "g2"],
        "attributes": {"okta_status": "ACTIVE"},
    }


def test_canonical_rules_apply_per_field(identity_record: dict[str, Any]) -> None:
    """Required fields, types and enums of the canonical schema are checked on every record."""
    identity_record.update(id=1001, status="LOCKED_OUT")
    identity_record["profile"]["email"] = "nobody"
    result = compile_mapping(identity_spec()).apply(identity_record)
    assert result.output is None
    errors = {e.field: e for e in result.errors}
    assert set(errors) == {"external_id", "email", "status"}
    assert errors["external_id"].message == "must be string, got integer"
    assert errors["external_id"].value_preview == "1001"
    assert errors["email"].message == "is required"
    assert errors["status"].message.startswith("must be one of 'active', 'suspended'")
    assert errors["status"].value_preview == "'LOCKED_OUT'"


@pytest.mark.parametrize(
    ("rules", "value", "message"),
    [
        ({"required": True}, None, "is required"),
        ({"required": True}, "", "is required (empty string)"),
        ({"type": "integer"}, "5", "must be integer, got string"),
        ({"type": "integer"}, True, "must be integer, got boolean"),
        ({"type": "number"}, [1], "must be number, got array"),
        ({"type": "boolean"}, 1, "must be boolean, got integer"),
        ({"type": "array"}, {}, "must be array, got object"),
        ({"type": "object"}, [], "must be object, got array"),
        ({"type": "date-time"}, "2024-05-01", "ISO 8601 date-time with a time zone"),
        ({"pattern": "^[A-Z]{3}-\\d+$"}, "SEC-x", "does not match the pattern"),
        ({"enum": ["a", "b"]}, "c", "must be one of 'a', 'b'"),
        ({"enum": [1, 2]}, True, "must be one of 1, 2"),
        ({"enum": ["a"]}, ["a"], "must be one of 'a'"),
        ({"minimum": 0, "maximum": 10}, 11, "must be at most 10"),
        ({"minimum": 0, "maximum": 10}, -1, "must be at least 0"),
        ({"min_length": 2}, "a", "at least 2"),
        ({"max_length": 2}, [1, 2, 3], "at most 2"),
    ],
)
def test_validation_rules_fail(rules: dict[str, Any], value: Any, message: str) -> None:
    result = compile_mapping(one_field([], rules=rules)).apply({"v": value})
    assert result.output is None
    assert len(result.errors) == 1
    assert message in result.errors[0].message
    assert result.errors[0].field == "out"


@pytest.mark.parametrize(
    ("rules", "value"),
    [
        ({"type": "integer"}, 5),
        ({"type": "integer"}, 5.0),
        ({"type": "number"}, 5),
        ({"type": "date-time"}, "2024-05-01T10:00:00Z"),
        ({"pattern": "^[A-Z]{3}-\\d+$"}, "SEC-42"),
        ({"enum": ["a", "b"]}, "b"),
        ({"minimum": 0, "maximum": 10}, 10),
        ({"min_length": 1, "max_length": 2}, "ab"),
        ({"type": "string", "enum": ["x"], "minimum": 1}, None),
    ],
)
def test_validation_rules_pass(rules: dict[str, Any], value: Any) -> None:
    assert compile_mapping(one_field([], rules=rules)).apply({"v": value}).output == {
        "out": value}


def test_bad_rules_are_problems() -> None:
    problems = validate_mapping(one_field([], rules={"minimum": 5, "maximum": 1}))
    assert [(p.field, p.code) for p in problems] == [("out", "bad_rule")]
    problems = validate_mapping(one_field([], rules={"pattern": "(a+)+"}))
    assert problems[0].code == "bad_rule"
    assert "catastrophic" in problems[0].message


def test_secret_values_are_masked_in_errors() -> None:
    spec = one_field(["to_number"], source="api_token")
    result = compile_mapping(spec).apply({"api_token": "sk-live-123"})
    assert result.errors == [FieldError(field="out", message="to_number: '***' is not a number",
                                        value_preview="***")]
    spec = one_field([{"function": "to_number", "params": {"kind": "integer"}}],
                     source="password")
    error = compile_mapping(spec).apply({"password": 12.5}).errors[0]
    assert (error.message, error.value_preview) == ("to_number: *** is not a whole number", "***")
    plain = compile_mapping(one_field(["to_number"])).apply({"v": "abc"}).errors[0]
    assert (plain.message, plain.value_preview) == ("to_number: 'abc' is not a number", "'abc'")
    marked = one_field([], source="v", secret=True, rules={"type": "integer"})
    error = compile_mapping(marked).apply({"v": "hunter2"}).errors[0]
    assert error.value_preview == "***"
    assert "hunter2" not in error.message


def test_secret_source_schema_marker_masks_previews() -> None:
    spec = identity_spec(fields=[*IDENTITY["fields"][:6],
                                 {"target": "employee_id", "source": "profile.recoveryToken",
                                  "rules": {"pattern": "^E"}}])
    record = {"id": "1", "profile": {"login": "a", "email": "a@b.io", "recoveryToken": "tok"}}
    errors = compile_mapping(spec).apply(record).errors
    assert [(e.field, e.value_preview) for e in errors] == [("employee_id", "***")]


def test_validate_reports_every_problem_by_field() -> None:
    spec = MappingSpec.model_validate({
        **IDENTITY,
        "fields": [
            {"target": "external_id", "source": "profile.mfaCount", "steps": ["lower"]},
            {"target": "email", "source": "groups", "steps": ["trim"]},
            {"target": "mfa_enabled", "source": "profile.mfaCount", "steps": ["to_string"]},
            {"target": "title", "source": "nope.x"},
            {"target": "department", "source": "a..b"},
            {"target": "colour", "source": "id"},
            {"target": "given_name", "steps": [{"function": "shout"}]},
            {"target": "family_name", "source": "id",
             "steps": [{"function": "lookup", "params": {"table": "x"}}]},
            {"target": "display_name", "source": "id",
             "steps": [{"function": "jmespath", "params": {"expression": "foo[?"}}]},
            {"target": "employee_id", "source": "id"},
            {"target": "employee_id", "source": "status"},
            {"target": "attributes", "source": "id"},
            {"target": "attributes.x", "source": "id"},
            {"target": "provenance.sync_id", "source": "id"},
            {"target": "manager_external_id"},
        ],
    })
    problems = {(p.field, p.code): p for p in validate_mapping(spec)}
    assert set(problems) == {
        ("external_id", "type_mismatch"),
        ("email", "type_mismatch"),
        ("mfa_enabled", "type_mismatch"),
        ("title", "unknown_source"),
        ("department", "bad_path"),
        ("colour", "unknown_target"),
        ("given_name", "unknown_function"),
        ("family_name", "bad_params"),
        ("display_name", "bad_expression"),
        ("employee_id", "duplicate_target"),
        ("attributes", "type_mismatch"),  # a string cannot become the attributes object
        ("attributes.x", "conflicting_target"),
        ("provenance.sync_id", "unknown_target"),
        ("manager_external_id", "no_source"),
        ("username", "required_unmapped"),
    }
    assert "step 1 (lower) expects string, gets integer" in (
        problems[("external_id", "type_mismatch")].message)
    assert "produces string but the target field takes boolean" in (
        problems[("mfa_enabled", "type_mismatch")].message)
    assert problems[("title", "unknown_source")].severity == "warning"
    assert problems[("family_name", "bad_params")].message == (
        "step 1 (lookup): param 'table': must be object, got string")
    with pytest.raises(MappingCompileError) as info:
        compile_mapping(spec)
    assert {p.field for p in info.value.problems} >= {"username", "given_name"}


def test_a_valid_mapping_has_no_problems() -> None:
    assert validate_mapping(identity_spec()) == []


def test_unknown_entity_and_required_targets() -> None:
    problems = validate_mapping(identity_spec(target="spaceship"))
    assert [(p.field, p.code) for p in problems] == [("target", "unknown_entity")]
    assert required_targets(identity_spec()) == ["external_id", "username"]
    check = identity_spec(target="configuration_check", fields=[])
    assert required_targets(check) == ["external_id", "check_id", "status"]
    assert {p.field for p in validate_mapping(check)} == {"external_id", "check_id", "status"}


def test_target_schema_argument_overrides_the_canonical_one() -> None:
    schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
    spec = identity_spec(fields=[{"target": "external_id", "source": "id"}])
    problems = validate_mapping(spec, target_schema=schema)
    assert [(p.field, p.code) for p in problems] == [("id", "required_unmapped")]


def test_test_mapping_reports_output_and_errors_per_record(
    identity_record: dict[str, Any],
) -> None:
    broken = identity_spec(fields=[*IDENTITY["fields"],
                                   {"target": "title", "source": "x", "steps": ["nope"]}])
    ok_record = {**identity_record, "id": "00u1"}
    results = test_mapping(identity_spec(), [ok_record, {"id": "2", "profile": {}}, "junk"])
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].output is not None
    assert results[0].errors == []
    assert {e.field for e in results[1].errors} == {"username", "email"}
    assert results[2].errors[0].field == "$"
    lenient = test_mapping(broken, [ok_record])
    assert lenient[0].output is None
    assert [e.field for e in lenient[0].errors] == ["title"]
    assert "not compiled: step 1 (nope): unknown function 'nope'" in lenient[0].errors[0].message
    json.dumps([r.model_dump() for r in results])


# -- sandbox ----------------------------------------------------------------------------------

UNSAFE_STEPS = [
    {"function": "jmespath", "params": {"expression": "__import__('os').system('id')"}},
    {"function": "jmespath", "params": {"expression": "a.__class__.__bases__"}},
    {"function": "jmespath", "params": {"expression": "`\"__globals__\"`"}},
    {"function": "jmespath", "params": {"expression": "foo[?name == '__subclasses__']"}},
    {"function": "regex_replace", "params": {"pattern": "x", "replacement": "__import__"}},
    {"function": "constant", "params": {"value": {"nested": ["().__class__.__mro__"]}}},
    {"function": "lookup", "params": {"table": {"__builtins__": "x"}}},
    {"function": "if", "params": {"when": {"field": "a.__dict__", "op": "exists"}}},
    {"function": "map", "params": {"steps": [{"function": "jmespath",
                                              "params": {"expression": "x.__init__"}}]}},
    {"function": "concat", "params": {"prefix": "gi_frame.f_globals"}},
    {"function": "__import__", "params": {}},
]


@pytest.mark.parametrize("bad_step", UNSAFE_STEPS)
def test_payloads_reaching_for_python_internals_are_rejected(bad_step: dict[str, Any]) -> None:
    spec = one_field([bad_step])
    problems = validate_mapping(spec)
    assert [(p.field, p.code) for p in problems] == [("out", "unsafe")], problems
    with pytest.raises(MappingCompileError, match=r"not allowed|Python internals"):
        compile_mapping(spec)
    # The designer's preview shows it as an error, never runs it.
    result = test_mapping(spec, [{"v": "x"}])[0]
    assert result.output is None
    assert result.errors[0].message.startswith("not compiled:")


@pytest.mark.parametrize("path", ["__class__", "v.__class__.__init__.__globals__",
                                  "v['__builtins__']"])
def test_source_and_target_paths_cannot_name_internals(path: str) -> None:
    assert validate_mapping(one_field([], source=path))[0].code == "unsafe"
    spec = MappingSpec.model_validate({"name": "t", "source": "s", "target": "x",
                                       "target_schema": {}, "fields": [{"target": path}]})
    assert validate_mapping(spec)[0].code == "unsafe"


def test_data_keys_that_look_like_internals_are_just_data() -> None:
    """The engine reads dict keys only: a record's '__class__' key cannot reach Python."""
    compiled = compile_mapping(one_field([{"function": "jmespath",
                                           "params": {"expression": "keys(@)"}}]))
    assert compiled.apply({"v": {"__class__": 1}}).output == {"out": ["__class__"]}


# -- model ------------------------------------------------------------------------------------


def test_model_round_trips_through_json() -> None:
    spec = identity_spec(description="d", direction="inbound")
    text = spec.to_json()
    again = MappingSpec.from_json(text)
    assert again == spec
    assert again.fingerprint() == spec.fingerprint()
    assert json.loads(again.to_json()) == json.loads(text)
    assert again.fields[1].steps[0].function == "trim"  # "trim" shorthand became a Step


def test_next_version_and_fingerprint() -> None:
    spec = identity_spec()
    nxt = spec.next_version(description="changed")
    assert (nxt.version, nxt.description) == (4, "changed")
    assert nxt.fingerprint() != spec.fingerprint()
    compiled = compile_mapping(nxt)
    assert (compiled.version, compiled.fingerprint) == (4, nxt.fingerprint())


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"colour": "red"}, "colour"),
        ({"format": 2}, "format"),
        ({"version": 0}, "version"),
        ({"direction": "sideways"}, "direction"),
        ({"fields": [{"target": "x", "source": []}]}, "fields.0.source"),
        ({"fields": [{"target": "x", "rules": {"type": "uuid"}}]}, "fields.0.rules.type"),
        ({"fields": [{"target": "x", "steps": [{"fn": "lower"}]}]}, "fields.0.steps.0"),
    ],
)
def test_malformed_mappings_name_the_field(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        MappingSpec.model_validate({**IDENTITY, **data})
    locations = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(loc.startswith(where) for loc in locations), locations


def test_outbound_mapping_reads_the_canonical_model() -> None:
    spec = MappingSpec.model_validate({
        "name": "identity to jira user", "direction": "outbound",
        "source": "identity", "target": "jira.user",
        "target_schema": {"type": "object", "required": ["emailAddress", "displayName"],
                          "properties": {"emailAddress": {"type": "string"},
                                         "displayName": {"type": "string"},
                                         "active": {"type": "boolean"}}},
        "fields": [
            {"target": "emailAddress", "source": "email"},
            {"target": "displayName", "source": ["given_name", "family_name"],
             "steps": [{"function": "concat", "params": {"separator": " "}}]},
            {"target": "active", "source": "status", "steps": [
                {"function": "lookup", "params": {"table": {"active": True},
                                                  "on_missing": "default", "default": False}}]},
            {"target": "extra", "source": "favourite_colour"},
        ],
    })
    problems = validate_mapping(spec)
    assert [(p.field, p.code, p.severity) for p in problems] == [
        ("extra", "unknown_source", "warning")]
    result = compile_mapping(spec).apply({"external_id": "u1", "username": "ann",
                                          "email": "ann@x.io", "given_name": "Ann",
                                          "family_name": "Lee", "status": "suspended"})
    assert result.output == {"emailAddress": "ann@x.io", "displayName": "Ann Lee",
                             "active": False, "extra": None}


# -- never raises -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "v", "a", "b", "items", "name", "__class__"]),
                      children, max_size=4),
    max_leaves=20,
)

def _kitchen_sink() -> MappingSpec:
    def f(target: str, source: Any, *steps: Any, **rules: Any) -> dict[str, Any]:
        return {"target": target, "source": source, "steps": list(steps), "rules": rules}

    def s(name: str, **params: Any) -> dict[str, Any]:
        return {"function": name, "params": params}

    return MappingSpec.model_validate({
        "name": "sink", "source": "any", "target": "x", "target_schema": {"type": "object"},
        "fields": [
            f("a", "v", "trim", "lower", "upper"),
            f("b", ["a", "b"], s("concat", separator=" "), s("split"), s("join")),
            f("c", "items[*].name", s("map", steps=["to_string", "hash"]), "unique"),
            f("d", "v", s("parse_datetime"), s("format_datetime", format="%Y")),
            f("e", "v", s("to_number"), type="number", minimum=0),
            f("f", "v", "to_bool"),
            f("g", "a.b", s("regex_extract", pattern=r"(\w+)@"), "extract_domain"),
            f("h", "v", "extract_email", s("regex_replace", pattern="a+", replacement="b")),
            f("i", "items", s("filter", where={"or": [{"field": "id", "op": "gt", "value": 1},
                                                      {"op": "empty"}]}), "first", "length"),
            f("j", "v", s("jmespath", expression="[0].id"), s("lookup", table={"1": "one"})),
            f("k", None, s("jmespath", expression="items[*].id | max(@)", scope="record")),
            f("l", ["v", "id"], "coalesce", s("if", when={"not": {"op": "in", "values": [1]}},
                                              then=["to_string"])),
            f("m", "$", s("jmespath", expression="keys(@)"), "last"),
            f("n", "v", s("replace", old="a"), s("default", value=0), s("constant", value=1)),
            f("o", "items[-1].name", "copy", required=True, pattern="^x"),
        ],
    })


KITCHEN_SINK = compile_mapping(_kitchen_sink())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["v", "id", "a", "b", "items"]), json_values,
                       max_size=5))
def test_engine_never_raises_on_arbitrary_json(record: dict[str, Any]) -> None:
    result = KITCHEN_SINK.apply(record)
    assert (result.output is None) == bool(result.errors)
    for error in result.errors:
        assert error.field
        assert error.message
        assert error.value_preview is None or len(error.value_preview) <= 80
    if result.output is not None:
        json.dumps(result.output)  # always JSON-serialisable


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_as_a_record_gets_an_answer(record: Any) -> None:
    result = KITCHEN_SINK.apply(record)
    assert result.output is not None or result.errors


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_path_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        getter = compile_getter(parse_path(text))
    except PathError:
        return
    getter({"a": [1, {"b": 2}]})


def test_dict_subclasses_are_records_too() -> None:
    spec = one_field([], source="a.b")
    record = OrderedDict(a=OrderedDict(b="x"))
    assert compile_mapping(spec).apply(record).output == {"out": "x"}


def test_huge_and_deep_values_do_not_break_error_reporting() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    compiled = compile_mapping(one_field(["to_string"]))
    result = compiled.apply({"v": deep})
    assert result.output is None
    assert result.errors[0].message == "cannot transform the value (RecursionError)"
    assert result.errors[0].value_preview == "[[[[...]]]]"
    big = compile_mapping(one_field([], rules={"type": "integer"})).apply({"v": "x" * 10**7})
    preview_text = big.errors[0].value_preview
    assert preview_text is not None
    assert len(preview_text) <= 80
