"""Every transformation function: its normal result, its edge cases and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from server.mapping import MappingCompileError, compile_mapping, list_functions
from tests.mapping.helpers import fail, one_field, run


def step(function: str, **params: Any) -> dict[str, Any]:
    return {"function": function, "params": params}


def bad_params(steps: list[Any]) -> str:
    with pytest.raises(MappingCompileError) as info:
        compile_mapping(one_field(steps))
    return str(info.value)


# -- basic ------------------------------------------------------------------------------------


def test_copy_keeps_any_value() -> None:
    assert run(["copy"], {"a": [1]}) == {"a": [1]}


def test_constant_ignores_source() -> None:
    assert run([step("constant", value="okta")], "x") == "okta"
    assert run([step("constant", value=3)], None) == 3


def test_default_replaces_null_and_optionally_empty() -> None:
    assert run([step("default", value="n/a")], None) == "n/a"
    assert run([step("default", value="n/a")], "") == ""
    assert run([step("default", value="n/a", on_empty=True)], "") == "n/a"
    assert run([step("default", value="n/a")], "x") == "x"


def test_null_skips_steps_that_do_not_accept_it() -> None:
    assert run(["trim", "lower"], None) is None


# -- text -------------------------------------------------------------------------------------


def test_case_and_trim() -> None:
    assert run(["lower"], "AbC") == "abc"
    assert run(["upper"], "AbC") == "ABC"
    assert run(["trim"], "  a b \n") == "a b"
    assert run([step("trim", chars="/")], "/a/b/") == "a/b"
    assert "lower expects a string, got integer" in fail(["lower"], 5)


def test_concat_joins_several_sources() -> None:
    spec = one_field([step("concat", separator=" ")], source=["first", "last", "none"])
    out = compile_mapping(spec).apply({"first": "Ann", "last": "Lee"}).output
    assert out == {"out": "Ann Lee"}
    assert run([step("concat", separator="-", prefix="<", suffix=">")], [1, "b", True]) == (
        "<1-b-true>"
    )
    assert run([step("concat", skip_empty=False, separator=",")], ["a", None, ""]) == "a,,"
    assert "concat expects strings or numbers" in fail(["concat"], [{"x": 1}])


@pytest.mark.parametrize("skip_empty", [True, False])
def test_concat_of_two_texts_is_the_general_join(skip_empty: bool) -> None:
    """Two text parts take a shortcut; it joins as the general path (three parts) does."""
    steps = [step("concat", separator="-", prefix="<", suffix=">", skip_empty=skip_empty)]
    for first in ("", "a", "é", None, 1):
        for second in ("", "b", None, True):
            two = run(steps, [first, second])
            # The same two parts and a third that adds nothing: the general path.
            general = run(steps, [first, second, None]) if skip_empty else None
            assert general in (None, two)
            parts = [p for p in (first, second) if not (skip_empty and p in (None, ""))]
            texts = ["" if p is None else "true" if p is True else str(p) for p in parts]
            assert two == "<" + "-".join(texts) + ">"
    spec = one_field(steps, source=["first", "last"])
    mapped = compile_mapping(spec)
    assert mapped.apply({"first": "Ann", "last": "Lee"}).output == {"out": "<Ann-Lee>"}
    assert mapped.apply({"last": "Lee"}).output == {"out": "<Lee>" if skip_empty else "<-Lee>"}


def test_split_and_join() -> None:
    assert run([step("split", separator=",")], "a, b,,c") == ["a", "b", "c"]
    assert run(["split"], "a  b") == ["a", "b"]
    assert run([step("split", separator=",", drop_empty=False, trim=False)], "a,,b") == [
        "a", "", "b"]
    assert run([step("split", separator=",", max_split=1)], "a,b,c") == ["a", "b,c"]
    assert run([step("join", separator="|")], ["a", None, 2]) == "a|2"
    assert "join expects an array" in fail(["join"], "ab")
    assert "must not be empty" in bad_params([step("split", separator="")])


def test_replace() -> None:
    assert run([step("replace", old="-", new="")], "a-b-c") == "abc"
    assert "must not be empty" in bad_params([step("replace", old="")])


def test_regex_extract() -> None:
    assert run([step("regex_extract", pattern=r"CN=([^,]+)")], "CN=Ann,OU=x") == "Ann"
    assert run([step("regex_extract", pattern=r"\d+")], "ab12cd34") == "12"
    assert run([step("regex_extract", pattern=r"\d+", all=True)], "ab12cd34") == ["12", "34"]
    assert run([step("regex_extract", pattern=r"(?P<u>\w+)@", group="u")], "ann@x") == "ann"
    assert run([step("regex_extract", pattern="ann", ignore_case=True)], "ANN") == "ANN"
    assert run([step("regex_extract", pattern="z")], "abc") is None
    assert "has 0 group" in bad_params([step("regex_extract", pattern="a", group=2)])
    assert "no group named" in bad_params([step("regex_extract", pattern="a", group="x")])


def test_regex_replace() -> None:
    assert run([step("regex_replace", pattern=r"\s+", replacement=" ")], "a  \t b") == "a b"
    assert run([step("regex_replace", pattern=r"(\w+)@(\w+)", replacement=r"\2/\1")],
               "ann@corp") == "corp/ann"
    assert run([step("regex_replace", pattern="a", replacement="b", count=1)], "aaa") == "baa"
    assert "invalid" in bad_params([step("regex_replace", pattern="a", replacement=r"\1")])


@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w*)*x", "(a|ab)*c", r"(\w+\s?)+$",
                                     "(.*a){12}"])
def test_catastrophic_patterns_are_refused_at_compile_time(pattern: str) -> None:
    assert "catastrophic backtracking" in bad_params([step("regex_extract", pattern=pattern)])


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", "[z-a]"])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    assert "not a valid regular expression" in bad_params(
        [step("regex_replace", pattern=pattern)])


def test_regex_input_size_is_capped() -> None:
    message = fail([step("regex_extract", pattern="b", max_input=10)], "a" * 11)
    assert "over the 10-character regex limit" in message


def test_safe_nested_patterns_are_allowed() -> None:
    assert run([step("regex_extract", pattern=r"^((?:\w+\.)+)\w+$")], "a.b.c") == "a.b."


def test_extract_email() -> None:
    assert run(["extract_email"], "Ann Lee <Ann.Lee@Example.COM>") == "ann.lee@example.com"
    assert run([step("extract_email", lowercase=False)], "x Ann@Ex.com") == "Ann@Ex.com"
    assert run([step("extract_email", all=True)], "a@x.io, b@y.io") == ["a@x.io", "b@y.io"]
    assert run(["extract_email"], "no address") is None


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("Ann@Example.COM", "example.com"),
        ("Ann <ann@mail.example.org>", "mail.example.org"),
        ("https://Portal.Example.com:8443/path?q=1", "portal.example.com"),
        ("host.corp.local.", "host.corp.local"),
        ("example.com/path", "example.com"),
        ("server:22", "server"),
        ("not a domain!", None),
        ("", None),
    ],
)
def test_extract_domain(text: str, domain: str | None) -> None:
    assert run(["extract_domain"], text) == domain


# -- conversions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("42", {}, 42),
        (" 4.50 ", {}, 4.5),
        ("4.0", {}, 4),
        ("1,234.5", {"thousands_separator": ","}, 1234.5),
        (7, {"kind": "float"}, 7.0),
        ("7.0", {"kind": "integer"}, 7),
        (True, {}, 1),
        (3.25, {}, 3.25),
    ],
)
def test_to_number(value: Any, params: dict[str, Any], expected: Any) -> None:
    result = run([step("to_number", **params)], value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("value", "message"), [("abc", "is not a number"),
                                                ("nan", "not a finite number"),
                                                ([1], "expects a string or number")])
def test_to_number_errors(value: Any, message: str) -> None:
    assert message in fail(["to_number"], value)


def test_to_number_integer_refuses_fractions() -> None:
    assert "not a whole number" in fail([step("to_number", kind="integer")], "1.5")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("Yes", True), ("1", True), (1, True), ("enabled", True), (True, True),
     ("false", False), ("NO", False), ("0", False), (0, False), ("", False), (False, False)],
)
def test_to_bool(value: Any, expected: bool) -> None:
    assert run(["to_bool"], value) is expected


def test_to_bool_custom_values_and_errors() -> None:
    assert run([step("to_bool", true_values=["ok"], false_values=["ko"])], "OK") is True
    assert "not a known true or false value" in fail([step("to_bool", true_values=["ok"])],
                                                     "yes")
    assert "neither 0 nor 1" in fail(["to_bool"], 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, "5"), (2.5, "2.5"), (True, "true"), (False, "false"), ("x", "x"), ("", ""),
     ([1, {"b": 2, "a": 1}], '[1,{"a":1,"b":2}]')],
)
def test_to_string(value: Any, expected: str) -> None:
    assert run(["to_string"], value) == expected


def test_lookup() -> None:
    table = {"A": "active", "S": "suspended", "1": "one", "true": "yes"}
    assert run([step("lookup", table=table)], "A") == "active"
    assert run([step("lookup", table=table)], 1) == "one"
    assert run([step("lookup", table=table)], True) == "yes"
    assert run([step("lookup", table=table)], "Z") == "Z"
    assert run([step("lookup", table=table, on_missing="null")], "Z") is None
    assert run([step("lookup", table=table, on_missing="default", default="?")], "Z") == "?"
    assert run([step("lookup", table=table, case_insensitive=True)], "a") == "active"
    assert "not in the table" in fail([step("lookup", table=table, on_missing="error")], "Z")
    assert "differ only by case" in bad_params(
        [step("lookup", table={"a": 1, "A": 2}, case_insensitive=True)])
    assert "must be one of" in bad_params([step("lookup", table={}, on_missing="explode")])


def test_hash() -> None:
    assert run(["hash"], "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert run([step("hash", algorithm="md5")], "abc") == "900150983cd24fb0d6963f7d28e17f72"
    assert run([step("hash", salt="s")], "abc") == run(["hash"], "sabc")
    assert run(["hash"], {"b": 1, "a": 2}) == run(["hash"], '{"a":2,"b":1}')
    assert "must be one of" in bad_params([step("hash", algorithm="crc32")])


# -- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("2024-05-01T10:00:00+02:00", {}, "2024-05-01T08:00:00+00:00"),
        ("2024-05-01T10:00:00Z", {}, "2024-05-01T10:00:00+00:00"),
        ("2024-05-01 10:00", {"timezone": "Europe/Paris"}, "2024-05-01T08:00:00+00:00"),
        ("2024-01-15 10:00", {"timezone": "America/New_York"}, "2024-01-15T15:00:00+00:00"),
        ("01/05/2024 10:00", {"format": "%d/%m/%Y %H:%M"}, "2024-05-01T10:00:00+00:00"),
        ("Wed, 01 May 2024 10:00:00 +0200", {"format": "rfc2822"}, "2024-05-01T08:00:00+00:00"),
        ("May 1 2024 10:00 GMT", {"format": "auto"}, "2024-05-01T10:00:00+00:00"),
        (1714557600, {}, "2024-05-01T10:00:00+00:00"),
        (1714557600000, {"unit": "ms"}, "2024-05-01T10:00:00+00:00"),
    ],
)
def test_parse_datetime(value: Any, params: dict[str, Any], expected: str) -> None:
    assert run([step("parse_datetime", **params)], value) == expected


@pytest.mark.parametrize(
    ("value", "params", "message"),
    [
        ("yesterday", {}, "does not match format iso"),
        ("2024-13-01", {}, "does not match"),
        ("2024-05-01 10:00 CEST", {"format": "auto"}, "unknown time zone name"),
        (10**20, {}, "out of range"),
        ([1], {}, "expects text or a number"),
    ],
)
def test_parse_datetime_errors(value: Any, params: dict[str, Any], message: str) -> None:
    assert message in fail([step("parse_datetime", **params)], value)


def test_parse_datetime_refuses_unknown_zones() -> None:
    assert "not a known time zone" in bad_params([step("parse_datetime", timezone="Mars/Base")])


def test_dates_nested_in_other_steps_are_written_as_iso_text() -> None:
    steps = [step("map", steps=[step("parse_datetime", unit="ms")])]
    assert run(steps, [0, 1714557600000]) == ["1970-01-01T00:00:00+00:00",
                                               "2024-05-01T10:00:00+00:00"]
    when = step("if", when={"op": "exists"}, then=["parse_datetime"])
    assert run([when], "2024-05-01T10:00:00Z") == "2024-05-01T10:00:00+00:00"


def test_format_datetime() -> None:
    parse = step("parse_datetime")
    assert run([parse, step("format_datetime", format="%Y-%m-%d %H:%M",
                            timezone="Asia/Tokyo")], "2024-05-01T20:00:00Z") == "2024-05-02 05:00"
    assert run([step("format_datetime", timezone="Europe/Paris")], "2024-05-01T10:00:00Z") == (
        "2024-05-01T12:00:00+02:00")
    assert run([step("format_datetime", format="%d.%m.%Y")], "2024-05-01T00:00:00Z") == (
        "01.05.2024")
    assert "expects a date-time" in fail([step("format_datetime")], 5)


# -- logic ------------------------------------------------------------------------------------


def test_coalesce() -> None:
    spec = one_field(["coalesce"], source=["a", "b", "c"])
    compiled = compile_mapping(spec)
    assert compiled.apply({"b": "", "c": "third"}).output == {"out": "third"}
    assert compiled.apply({"a": 0, "c": "third"}).output == {"out": 0}
    assert compiled.apply({}).output == {"out": None}
    keep_empty = compile_mapping(one_field([step("coalesce", skip_empty=False)],
                                           source=["a", "b"]))
    assert keep_empty.apply({"a": "", "b": "x"}).output == {"out": ""}


def test_if_then_else_on_record_fields() -> None:
    steps = [step("if", when={"field": "kind", "op": "equals", "value": "svc"},
                  then=[step("constant", value="service")], **{"else": ["lower"]})]
    compiled = compile_mapping(one_field(steps, source="name"))
    assert compiled.apply({"kind": "svc", "name": "X"}).output == {"out": "service"}
    assert compiled.apply({"kind": "user", "name": "Ann"}).output == {"out": "ann"}


def test_if_without_field_tests_the_current_value() -> None:
    steps = [step("if", when={"op": "regex", "pattern": "^adm-"},
                  then=[step("constant", value=True)],
                  **{"else": [step("constant", value=False)]})]
    assert run(steps, "adm-ann") is True
    assert run(steps, "ann") is False
    assert run(steps, None) is False


def test_jmespath_on_value_and_record() -> None:
    tags = [{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "ann"}]
    expr = "[?Key=='env'].Value | [0]"
    assert run([step("jmespath", expression=expr)], tags) == "prod"
    spec = one_field([step("jmespath", expression="length(items)", scope="record")], source=None)
    assert compile_mapping(spec).apply({"items": [1, 2, 3]}).output == {"out": 3}


def test_jmespath_runtime_type_errors_are_field_errors() -> None:
    assert "jmespath" in fail([step("jmespath", expression="length(@)")], 5)


def test_jmespath_that_does_not_parse_is_refused() -> None:
    assert "does not parse" in bad_params([step("jmespath", expression="a.[")])


# -- arrays -----------------------------------------------------------------------------------


def test_map_filter_first_last_unique_length() -> None:
    factors = [{"type": "push", "status": "ACTIVE"}, {"type": "sms", "status": "PENDING"},
               {"type": "totp", "status": "ACTIVE"}]
    active = {"field": "status", "op": "equals", "value": "ACTIVE"}
    assert run([step("filter", where=active)], factors) == [factors[0], factors[2]]
    assert run([step("first", where=active)], factors) == factors[0]
    assert run([step("first", where={"field": "type", "op": "equals", "value": "x"})],
               factors) is None
    assert run(["first"], []) is None
    assert run(["first"], [3, 4]) == 3
    assert run(["last"], [3, 4]) == 4
    assert run(["last"], []) is None
    assert run([step("map", steps=["upper"])], ["a", "b"]) == ["A", "B"]
    assert run([step("map", steps=[step("jmespath", expression="type")])], factors) == [
        "push", "sms", "totp"]
    assert run(["unique"], ["a", "b", "a", 1, True, {"x": 1}, {"x": 1}]) == [
        "a", "b", 1, True, {"x": 1}]
    assert run(["length"], [1, 2]) == 2
    assert run(["length"], "abc") == 3
    assert "map expects an array" in fail([step("map", steps=["upper"])], "ab")


def test_map_reports_element_errors_as_field_errors() -> None:
    assert "upper expects a string" in fail([step("map", steps=["upper"])], ["a", 1])


def test_nested_steps_must_compile() -> None:
    assert "unknown function 'nope'" in bad_params([step("map", steps=["nope"])])
    assert "must be an array of steps" in bad_params([step("map", steps="upper")])


# -- registry ---------------------------------------------------------------------------------

EXPECTED_FUNCTIONS = {
    "copy", "constant", "default", "lower", "upper", "trim", "concat", "split", "join",
    "replace", "regex_extract", "regex_replace", "parse_datetime", "format_datetime",
    "to_number", "to_bool", "to_string", "lookup", "coalesce", "if", "map", "filter", "first",
    "last", "unique", "length", "hash", "extract_email", "extract_domain", "jmespath",
}


def test_designer_can_list_every_function_with_its_signature() -> None:
    infos = {f.name: f for f in list_functions()}
    assert set(infos) == EXPECTED_FUNCTIONS
    regex = infos["regex_extract"]
    assert regex.input_types == ["string"]
    params = {p.name: p for p in regex.params}
    assert params["pattern"].required
    assert params["pattern"].type == "regex"
    assert infos["lookup"].params[1].choices == ["keep", "default", "null", "error"]
    for info in infos.values():
        assert info.description
        info.model_dump_json()  # serialisable for the console


def test_unknown_and_missing_params_are_named() -> None:
    assert "param 'colour': unknown parameter" in bad_params([step("lower", colour="red")])
    assert "param 'table': is required" in bad_params([step("lookup")])
    assert "param 'separator': must be string, got integer" in bad_params(
        [step("join", separator=1)])
    assert "param 'separator': must be string, got null" in bad_params(
        [step("join", separator=None)])
    assert run([step("split", separator=None)], "a b") == ["a", "b"]  # null: the default
