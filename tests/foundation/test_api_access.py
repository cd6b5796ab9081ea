"""Tokens and roles on every operation, problem+json for unknown ids, the OpenAPI document."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from server.db.models import Role
from tests.foundation.conftest import PREFIX, Api

#: Operations reachable without a token.
PUBLIC = {("GET", f"{PREFIX}/health"), ("GET", f"{PREFIX}/openapi.json"),
          ("POST", f"{PREFIX}/webhook/{{key}}"),  # inbound webhooks verify signatures instead
          ("GET", f"{PREFIX}/oauth/callback")}  # the browser comes back with a one-time state
#: POSTs that change nothing (dry runs): auditors may use them.
READ_ONLY = re.compile(r"/mappings/\{[^}]+\}/(validate|test)$")
#: Token and principal administration: admin only.
ADMINISTRATION = re.compile(rf"^{PREFIX}/(principals|tokens)")

#: The spec's endpoints this (foundation) issue owns; the rest arrive with their issues.
SPEC_ENDPOINTS_OWNED = """
GET /instances
GET /instances/{id}
POST /instances
PUT /instances/{id}
DELETE /instances/{id}
POST /instances/{id}/activate
POST /instances/{id}/deactivate
GET /instances/{id}/status
GET /mappings
GET /mappings/{id}
POST /mappings
PUT /mappings/{id}
DELETE /mappings/{id}
GET /schedules
GET /schedules/{id}
POST /schedules
PUT /schedules/{id}
DELETE /schedules/{id}
GET /sync-executions
GET /sync-executions/{id}
GET /event-subscriptions
POST /event-subscriptions
PUT /event-subscriptions/{id}
DELETE /event-subscriptions/{id}
GET /logs
GET /logs/{id}
GET /metrics
GET /metrics/{id}
GET /health
GET /auth-configs
GET /auth-configs/{id}
POST /auth-configs
PUT /auth-configs/{id}
DELETE /auth-configs/{id}
"""


def _operations(api: Api) -> list[tuple[str, str]]:
    doc = api.client.get(f"{PREFIX}/openapi.json").json()
    return [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]


def _concrete(path: str) -> str:
    """A path with unknown but well-formed values: ids are UUIDs, revisions numbers."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return "999999" if name in {"revision", "version", "other"} else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, path)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{id}", path)


def test_openapi_lists_every_owned_spec_endpoint(api: Api) -> None:
    doc = api.client.get(f"{PREFIX}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = {(m, _shape(p)) for m, p in _operations(api)}
    wanted = [tuple(line.split()) for line in SPEC_ENDPOINTS_OWNED.strip().splitlines()]
    missing = [f"{m} {p}" for m, p in wanted if (m, PREFIX + p) not in served]
    assert missing == []
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert "list_instances" in ids
    assert len(ids) == len(set(ids))


def test_no_token_is_401_everywhere_but_health(api: Api) -> None:
    for method, path in _operations(api):
        if (method, path) in PUBLIC:
            continue
        resp = api.client.request(method, _concrete(path), json={})
        assert resp.status_code == 401, f"{method} {path}: {resp.status_code}"
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.headers["www-authenticate"] == "Bearer"
    bad = api.client.get(f"{PREFIX}/instances", headers={"Authorization": "Bearer st_nope"})
    assert bad.status_code == 401
    assert api.client.get(f"{PREFIX}/health").status_code == 200


def test_auditor_cannot_change_anything(api: Api) -> None:
    mutating = [(m, p) for m, p in _operations(api)
                if m != "GET" and (m, p) not in PUBLIC and not READ_ONLY.search(p)]
    assert len(mutating) >= 15
    for method, path in mutating:
        resp = api.client.request(method, _concrete(path), json={},
                                  headers=api.headers(Role.AUDITOR))
        assert resp.status_code == 403, f"{method} {path}: {resp.status_code}"
        assert resp.json()["title"] == "Forbidden"


def test_auditor_reads_everything_including_logs(api: Api) -> None:
    for method, path in _operations(api):
        if method != "GET" or "{" in path or ADMINISTRATION.match(path) \
                or (method, path) in PUBLIC:
            continue
        assert api.client.get(path, headers=api.headers(Role.AUDITOR)).status_code == 200, path


def test_operator_cannot_administer_tokens_or_principals(api: Api) -> None:
    admin_ops = [(m, p) for m, p in _operations(api) if ADMINISTRATION.match(p)]
    assert len(admin_ops) >= 6
    for method, path in admin_ops:
        resp = api.client.request(method, _concrete(path), json={},
                                  headers=api.headers(Role.OPERATOR))
        assert resp.status_code == 403, f"{method} {path}"


def test_unknown_ids_are_404_problems(api: Api) -> None:
    for method, path in _operations(api):
        if method not in ("GET", "DELETE") or "{" not in path:
            continue
        resp = api.client.request(method, _concrete(path), headers=api.headers())
        assert resp.status_code == 404, f"{method} {path}: {resp.status_code}"
        problem = resp.json()
        assert resp.headers["content-type"] == "application/problem+json"
        assert problem["status"] == 404
        assert "no " in problem["detail"]


def test_invalid_bodies_are_422_naming_the_field(api: Api) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/instances", {"name": "x"}, "connector_id"),
        ("/instances", {"name": "", "connector_id": str(uuid.uuid4())}, "name"),
        ("/instances", {"name": "x", "connector_id": "not-a-uuid"}, "connector_id"),
        ("/instances", {"name": "x", "connector_id": str(uuid.uuid4()), "bogus": 1}, "bogus"),
        ("/mappings", {"name": "m"}, "instance_id"),
        ("/schedules", {"instance_id": str(uuid.uuid4())}, "schedule_type"),
        ("/event-subscriptions", {"instance_id": str(uuid.uuid4()), "event_type": "x",
                                  "action_type": "teleport"}, "action_type"),
        ("/principals", {"name": "p", "role": "superuser"}, "role"),
    ]
    for path, body, field in cases:
        resp = api.post(path, body)
        assert resp.status_code == 422, f"{path} {body}: {resp.status_code}"
        fields = [e["field"] for e in resp.json()["errors"]]
        assert field in fields, f"{path}: {fields}"
    resp = api.client.post(f"{PREFIX}/instances", content=b"{not json",
                           headers={**api.headers(), "content-type": "application/json"})
    assert resp.status_code == 422


def test_tokens_issue_use_and_revoke(api: Api) -> None:
    principal = api.post("/principals", {"name": "ci-pipeline", "kind": "service",
                                         "role": "operator"}).json()
    issued = api.post(f"/principals/{principal['id']}/tokens", {"name": "gitlab"}).json()
    token = issued["token"]
    assert token.startswith(issued["prefix"])
    me = api.client.get(f"{PREFIX}/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "ci-pipeline"
    listed = api.get("/tokens", params={"principal_id": principal["id"]}).json()["items"]
    assert "token" not in listed[0]
    assert api.delete(f"/tokens/{issued['id']}").status_code == 204
    resp = api.client.get(f"{PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_last_admin_cannot_be_removed(api: Api) -> None:
    me = api.get("/me").json()
    others = [p for p in api.get("/principals", params={"role": "admin"}).json()["items"]
              if p["id"] != me["id"]]
    assert others == []
    assert api.put(f"/principals/{me['id']}", {"role": "auditor"}).status_code == 409
    assert api.delete(f"/principals/{me['id']}").status_code == 409


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at"])
def test_pagination_is_stable_and_complete(api: Api, sort: str) -> None:
    connector = api.add_connector("pages")
    names = [f"inst-{i % 7:02d}-{i:03d}" for i in range(23)]
    for name in names:
        api.post("/instances", {"name": name, "connector_id": str(connector)})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/instances", params=params).json()
        seen += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(names)
    assert len(seen) == len(set(seen))
    if sort.endswith("name"):
        assert seen == sorted(names, reverse=sort.startswith("-"))


def test_bad_cursor_and_sort_are_422(api: Api) -> None:
    resp = api.get("/instances", params={"cursor": "garbage"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "cursor"
    resp = api.get("/instances", params={"sort": "password"})
    assert resp.json()["errors"][0]["field"] == "sort"
