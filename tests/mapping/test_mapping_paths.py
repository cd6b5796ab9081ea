"""Source paths: nested keys, indices, wildcards, quoted keys, and parse errors."""

from __future__ import annotations

import pytest

from server.mapping.paths import PathError, compile_getter, compile_setter, parse_path

RECORD = {
    "a": {"b": {"c": 1}},
    "items": [{"n": "x", "tags": ["t1", "t2"]}, {"n": "y", "tags": []}, {"m": 1}],
    "labels": {"app.kubernetes.io/name": "api"},
    "matrix": [[1, 2], [3]],
    "map": {"k1": {"v": 1}, "k2": {"v": 2}},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a", {"b": {"c": 1}}),
        ("a.b.c", 1),
        ("$.a.b.c", 1),
        ("a.b.missing", None),
        ("a.b.c.d", None),
        ("items[0].n", "x"),
        ("items[-1].m", 1),
        ("items[5].n", None),
        ("items[*].n", ["x", "y"]),
        ("items[*].tags[*]", ["t1", "t2"]),
        ("items[*].tags[0]", ["t1"]),
        ("matrix[*][*]", [1, 2, 3]),
        ("map[*].v", [1, 2]),
        ('labels["app.kubernetes.io/name"]', "api"),
        ("labels['app.kubernetes.io/name']", "api"),
        ("missing[*].x", []),
        ("a[0]", None),
        ("items.n", None),
        ("$", RECORD),
    ],
)
def test_getter_reads_paths(path: str, expected: object) -> None:
    assert compile_getter(parse_path(path))(RECORD) == expected


def test_getter_on_non_object_input_yields_none() -> None:
    for path in ("a", "a.b", "a.b.c", "a[0]", "a[*]"):
        getter = compile_getter(parse_path(path))
        assert getter("text") in (None, [])
        assert getter(None) in (None, [])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "empty"),
        ("a..b", "empty segment"),
        ("a.", "ends with"),
        ("a[x]", "unexpected character"),
        ("a.[0]", "cannot follow"),
        ("a[0", "unexpected character"),
        ("a.__class__", "not allowed"),
        ("a.__globals__.x", "not allowed"),
    ],
)
def test_bad_paths_are_refused_with_reason(path: str, message: str) -> None:
    with pytest.raises(PathError, match=message):
        parse_path(path)


def test_setter_builds_nested_objects() -> None:
    out: dict[str, object] = {}
    compile_setter(("owner", "email"))(out, "a@b.c")
    compile_setter(("owner", "name"))(out, "Ann")
    compile_setter(("id",))(out, 1)
    assert out == {"owner": {"email": "a@b.c", "name": "Ann"}, "id": 1}


def test_target_paths_are_dotted_keys_only() -> None:
    assert parse_path("owner.email").keys() == ("owner", "email")
    with pytest.raises(PathError, match="dotted keys"):
        parse_path("owner[0]").keys()
