"""A faithful loopback Jira: Cloud (REST v3, ADF bodies) or Server / Data Center (REST v2).

``JiraSimulator(deployment="cloud")`` answers ``/rest/api/3/...`` and ``/rest/api/2/...``
(``serverInfo.deploymentType`` is ``Cloud``; v3 bodies are Atlassian Document Format, v2
bodies plain text), also under ``/ex/jira/{cloudId}`` as the OAuth 2.0 (3LO) gateway does;
``deployment="server"`` answers ``/rest/api/2/...`` only (``deploymentType`` ``Server``).

Served as Jira does: ``serverInfo``, ``myself``, projects (``/project/search`` on Cloud,
``/project``), users (``/users/search`` on Cloud, ``/user/search?username=.`` on Server),
search (Cloud ``/search/jql`` with ``nextPageToken``; ``/search`` with ``startAt`` /
``maxResults`` (capped at 50 like Jira's default) / ``total``; JQL dates in the user's time
zone), issues (get, create with labels and entity properties, delete), transitions
(``GET/POST /issue/{key}/transitions``), comments (with properties), issue properties.
Errors are ``{"errorMessages": [...], "errors": {...}}``; throttling is 429 with
``Retry-After``. Auth: Basic (e-mail + API token, or user + password on Server), Bearer
(personal access token on Server, OAuth access token on Cloud).

Knobs: ``search_lag_s`` (Cloud search is eventually consistent: new issues appear in search
results after this delay), ``user_timezone``, ``max_results_cap``, plus the common faults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from connectors.sandbox.common import FaultRule, SimError, Simulator, _json_body, utc_anchor
from connectors.sandbox.jira_jql import JqlError, parse_jql

__all__ = ["DEFAULT_API_TOKEN", "DEFAULT_EMAIL", "DEFAULT_PAT", "JiraSimulator"]

DEFAULT_EMAIL = "integration@acme.example"
DEFAULT_API_TOKEN = "ATATT3xSimulatorApiToken0000000000"  # noqa: S105 - sandbox credential
DEFAULT_PAT = "NjA1SimulatorPersonalAccessToken00000"
DEFAULT_OAUTH_TOKEN = "eyJSimulatorOAuthAccessToken000000000"  # noqa: S105 - sandbox credential
CLOUD_ID = "11223344-a1b2-43c4-9d8e-aabbccddeeff"

_STATUSES = {
    "To Do": ("10000", 2, "new", "blue-gray", "To Do"),
    "In Progress": ("3", 4, "indeterminate", "yellow", "In Progress"),
    "Done": ("10001", 3, "done", "green", "Done"),
}
_TRANSITIONS = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
_TYPES = {"Task": "10001", "Bug": "10002", "Story": "10003"}
_PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
_PROJECTS = [
    ("10000", "SEC", "Security", "software"),
    ("10001", "OPS", "Operations", "software"),
    ("10002", "IT", "IT Service Desk", "service_desk"),
]
_USERS = [
    ("Ann Lee", "ann.lee", True), ("Bob Stone", "bob.stone", True),
    ("Carla Diaz", "carla.diaz", True), ("Dev Kumar", "dev.kumar", True),
    ("Erin Walsh", "erin.walsh", False), ("Farid Haddad", "farid.haddad", True),
    ("Grace Ho", "grace.ho", True), ("Hugo Berg", "hugo.berg", True),
    ("Integration Bot", "integration", True), ("Jon Park", "jon.park", True),
]
_SUMMARIES = [
    "Rotate AWS access keys older than 90 days", "Enable MFA for all admin accounts",
    "Review firewall rules for 0.0.0.0/0 ingress", "Patch OpenSSL on edge proxies",
    "Quarterly access review: finance systems", "Encrypt S3 bucket backups-eu",
    "Remove stale GitHub deploy keys", "Update incident response runbook",
    "Renew TLS certificate for api.acme.example", "Disable legacy TLS 1.0 on load balancers",
]


def _jira_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2024-05-01T10:00:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse_jira_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: one paragraph per block, hard breaks per line."""
    content = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_text(node: Any) -> str:
    """The text of an ADF document (paragraphs separated by blank lines)."""
    if not isinstance(node, Mapping):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    parts = [adf_text(child) for child in node.get("content") or []]
    joiner = "\n\n" if kind == "doc" else ""
    return joiner.join(parts)


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


class JiraSimulator(Simulator):
    """The Jira simulator (see the module docstring).

    Args:
        deployment: ``"cloud"`` (v3 and v2) or ``"server"`` (v2 only, Server/Data Center).
        anchor: the instant seeded data is relative to (default: now, floored to the hour).
        user_timezone: the API user's profile time zone; JQL dates are read in it.
        search_lag_s: Cloud search consistency delay for new issues.
    """

    name = "jira"

    def __init__(
        self,
        *,
        deployment: str = "cloud",
        anchor: datetime | None = None,
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_API_TOKEN,
        pat: str = DEFAULT_PAT,
        oauth_token: str = DEFAULT_OAUTH_TOKEN,
        user_timezone: str = "Europe/Berlin",
        search_lag_s: float = 0.0,
        max_results_cap: int = 50,
    ) -> None:
        super().__init__()
        if deployment not in ("cloud", "server"):
            raise ValueError("deployment must be 'cloud' or 'server'")
        self.deployment = deployment
        self.name = f"jira-{deployment}"
        self.anchor = utc_anchor(anchor)
        self.email = email
        self.api_token = api_token
        self.pat = pat
        self.oauth_token = oauth_token
        self.user_timezone = user_timezone
        self.search_lag_s = search_lag_s
        self.max_results_cap = max_results_cap
        #: The next issue create races another client's identical create, which lands first
        #: (what two agents opening the same finding at the same moment look like).
        self.race_next_create = False
        self.reset()

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    # ---- data -------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self._steps = 0
            self._last_step = datetime.now(UTC).replace(microsecond=0)
            self.users = [self._user(i, *u) for i, u in enumerate(_USERS)]
            self.projects = [
                {"id": pid, "key": key, "name": name, "projectTypeKey": kind,
                 "simplified": False, "style": "classic", "isPrivate": False,
                 "lead": self.users[i]}
                for i, (pid, key, name, kind) in enumerate(_PROJECTS)
            ]
            self.issues: dict[str, dict[str, Any]] = {}  # by key; internal shape
            self._next_id = 10_100
            self._counters = {p["key"]: 0 for p in self.projects}
            self._next_comment = 20_000
            for n in range(30):
                project = self.projects[n % 3]["key"]
                created = self.anchor - timedelta(days=40 - n, hours=n % 7)
                status = "Done" if n % 5 == 0 else "In Progress" if n % 3 == 0 else "To Do"
                suffix = f" ({n // 10 + 1})" if n >= 10 else ""
                issue = self._new_issue(
                    str(project), _SUMMARIES[n % len(_SUMMARIES)] + suffix,
                    f"Found by the quarterly control review.\n\nEvidence item {n + 1}.",
                    ("Bug", "Task", "Story")[n % 3], list(_PRIORITIES)[n % 5],
                    labels=["compliance"] + (["soc2"] if n % 2 else ["iso27001"]),
                    created=created,
                    reporter=self.users[n % 4],
                    assignee=self.users[(n + 3) % 10] if n % 4 else None,
                )
                issue["status"] = status
                issue["updated"] = created + timedelta(days=n % 6, hours=n % 5, minutes=n)
                if status == "Done":
                    issue["resolutiondate"] = issue["updated"]
                if n % 4 == 1:
                    self._add_comment(issue, "Evidence attached to the ticket.", self.users[1],
                                      created + timedelta(hours=2), [])

    def _user(self, i: int, name: str, login: str, active: bool) -> dict[str, Any]:
        account = hashlib.sha1(login.encode(), usedforsecurity=False).hexdigest()[:24]
        user: dict[str, Any] = {
            "displayName": name,
            "emailAddress": f"{login}@acme.example",
            "active": active,
            "timeZone": self.user_timezone if login == "integration" else "Europe/London",
            "avatarUrls": {"48x48": f"https://avatar.example/{login}.png"},
        }
        if self.cloud:
            user.update(accountId=f"5b10ac{account}", accountType="atlassian" if i != 8 else "app",
                        locale="en_US")
        else:
            user.update(key=f"JIRAUSER{10100 + i}", name=login, locale="en_GB")
        return user

    def _new_issue(
        self, project: str, summary: str, description: str | None, issue_type: str,
        priority: str, *, labels: list[str], created: datetime,
        reporter: dict[str, Any], assignee: dict[str, Any] | None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._counters[project] += 1
        key = f"{project}-{self._counters[project]}"
        issue = {
            "id": str(self._next_id), "key": key, "project": project, "summary": summary,
            "description": description, "issuetype": issue_type, "priority": priority,
            "labels": labels, "status": "To Do", "created": created, "updated": created,
            "resolutiondate": None, "reporter": reporter, "assignee": assignee,
            "comments": [], "properties": dict(properties or {}), "indexed_at": time.time(),
        }
        self._next_id += 1
        self.issues[key] = issue
        return issue

    def _add_comment(
        self, issue: dict[str, Any], text: str, author: dict[str, Any], at: datetime,
        properties: list[dict[str, Any]],
    ) -> dict[str, Any]:
        comment = {"id": str(self._next_comment), "text": text, "author": author,
                   "created": at, "updated": at,
                   "properties": {p["key"]: p.get("value") for p in properties}}
        self._next_comment += 1
        issue["comments"].append(comment)
        issue["updated"] = max(issue["updated"], at)
        return comment

    def state_summary(self) -> dict[str, Any]:
        with self.lock:
            return {"projects": len(self.projects), "users": len(self.users),
                    "issues": len(self.issues),
                    "comments": sum(len(i["comments"]) for i in self.issues.values())}

    def issues_labelled(self, label: str) -> list[str]:
        """Keys of the issues carrying ``label`` (tests)."""
        with self.lock:
            return sorted(k for k, i in self.issues.items() if label in i["labels"])

    def _now(self) -> datetime:
        now = max(datetime.now(UTC).replace(microsecond=0), self._last_step + timedelta(seconds=1))
        self._last_step = now
        return now

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Time passes: an open issue moves on, and every other step a new one is filed."""
        changed = {"updated": 0, "created": 0}
        with self.lock:
            for _ in range(steps):
                self._steps += 1
                now = self._now()
                open_issues = [i for i in self.issues.values() if i["status"] != "Done"]
                if open_issues:
                    issue = open_issues[self._steps % len(open_issues)]
                    issue["status"] = "In Progress" if issue["status"] == "To Do" else "Done"
                    issue["updated"] = now
                    if issue["status"] == "Done":
                        issue["resolutiondate"] = now
                    changed["updated"] += 1
                if self._steps % 2 == 0:
                    self._new_issue(
                        "SEC", f"Investigate alert #{1000 + self._steps}", "Raised by the SIEM.",
                        "Bug", "High", labels=["siem"], created=now, reporter=self.users[8],
                        assignee=None,
                    )
                    changed["created"] += 1
        return changed

    # ---- rendering ------------------------------------------------------------------------------

    def render_error(self, status: int, message: str | None) -> Response:
        return _errors(status, [message or {500: "Internal server error"}.get(status, "Error")])

    def render_throttle(self, rule: FaultRule) -> Response:
        reset = datetime.now(UTC) + timedelta(seconds=rule.retry_after)
        return JSONResponse(
            {"errorMessages": [rule.message or "Rate limit exceeded."], "errors": {}},
            status_code=rule.status or 429,
            headers={
                "Retry-After": f"{rule.retry_after:g}",
                "X-RateLimit-Limit": "350",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "RateLimit-Reason": "jira-quota-global-based",
            },
        )

    def _render_user(self, user: dict[str, Any] | None, base: str, v: str) -> Any:
        if user is None:
            return None
        ident = (f"accountId={user['accountId']}" if self.cloud else f"username={user['name']}")
        return {"self": f"{base}/rest/api/{v}/user?{ident}", **user}

    def _render_status(self, name: str, base: str, v: str) -> dict[str, Any]:
        sid, cid, ckey, color, cname = _STATUSES[name]
        return {
            "self": f"{base}/rest/api/{v}/status/{sid}", "description": "", "name": name,
            "id": sid, "iconUrl": f"{base}/images/icons/statuses/generic.png",
            "statusCategory": {"self": f"{base}/rest/api/{v}/statuscategory/{cid}", "id": cid,
                               "key": ckey, "colorName": color, "name": cname},
        }

    def _render_body(self, text: str | None, v: str) -> Any:
        if text is None:
            return None
        return adf(text) if v == "3" else text

    def _render_comment(self, c: dict[str, Any], issue: dict[str, Any], base: str, v: str,
                        with_properties: bool) -> dict[str, Any]:
        out = {
            "self": f"{base}/rest/api/{v}/issue/{issue['id']}/comment/{c['id']}",
            "id": c["id"], "author": self._render_user(c["author"], base, v),
            "body": self._render_body(c["text"], v),
            "updateAuthor": self._render_user(c["author"], base, v),
            "created": _jira_time(c["created"]), "updated": _jira_time(c["updated"]),
            "jsdPublic": True,
        }
        if with_properties:
            out["properties"] = [{"key": k, "value": val} for k, val in c["properties"].items()]
        return out

    def _render_issue(self, issue: dict[str, Any], base: str, v: str,
                      fields: set[str] | None) -> dict[str, Any]:
        project = next(p for p in self.projects if p["key"] == issue["project"])
        all_fields: dict[str, Any] = {
            "summary": issue["summary"],
            "status": self._render_status(issue["status"], base, v),
            "issuetype": {"self": f"{base}/rest/api/{v}/issuetype/{_TYPES[issue['issuetype']]}",
                          "id": _TYPES[issue["issuetype"]], "name": issue["issuetype"],
                          "subtask": False, "description": "", "iconUrl": ""},
            "priority": {"self": f"{base}/rest/api/{v}/priority/{_PRIORITIES[issue['priority']]}",
                         "id": _PRIORITIES[issue["priority"]], "name": issue["priority"],
                         "iconUrl": ""},
            "project": {"self": f"{base}/rest/api/{v}/project/{project['id']}",
                        "id": project["id"], "key": project["key"], "name": project["name"],
                        "projectTypeKey": project["projectTypeKey"]},
            "assignee": self._render_user(issue["assignee"], base, v),
            "reporter": self._render_user(issue["reporter"], base, v),
            "creator": self._render_user(issue["reporter"], base, v),
            "labels": list(issue["labels"]),
            "created": _jira_time(issue["created"]),
            "updated": _jira_time(issue["updated"]),
            "resolutiondate": _jira_time(issue["resolutiondate"])
            if issue["resolutiondate"] else None,
            "resolution": {"id": "10000", "name": "Done"} if issue["resolutiondate"] else None,
            "duedate": None,
            "description": self._render_body(issue["description"], v),
            "comment": {
                "comments": [self._render_comment(c, issue, base, v, False)
                             for c in issue["comments"]],
                "maxResults": len(issue["comments"]), "total": len(issue["comments"]),
                "startAt": 0,
            },
        }
        if fields is not None:
            all_fields = {k: val for k, val in all_fields.items() if k in fields}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue["id"],
            "self": f"{base}/rest/api/{v}/issue/{issue['id']}",
            "key": issue["key"],
            "fields": all_fields,
        }

    # ---- auth --------------------------------------------------------------------------------

    def _auth(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        integration = self.users[8]
        if scheme == "basic":
            try:
                user, _, secret = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = secret = ""
            expected_user = self.email if self.cloud else integration.get("name", "")
            if hmac.compare_digest(user, str(expected_user)) and hmac.compare_digest(
                secret, self.api_token
            ):
                return integration
        elif scheme == "bearer":
            token = value.strip()
            valid = self.oauth_token if self.cloud else self.pat
            if token and hmac.compare_digest(token, valid):
                return integration
        raise SimError(JSONResponse(
            {"errorMessages": ["You are not authenticated. Authentication required to perform "
                               "this operation."], "errors": {}},
            status_code=401,
            headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                     "WWW-Authenticate": 'OAuth realm="https%3A%2F%2Fjira"'},
        ))

    def _ctx(self, request: Request) -> tuple[str, str, dict[str, Any]]:
        """(base URL, API version, user) of a REST request; v3 on Server is a 404."""
        v = request.path_params["v"]
        if v not in ("2", "3") or (v == "3" and not self.cloud):
            raise SimError(_errors(404, ["null for uri: " + str(request.url.path)]))
        user = self._auth(request)
        base = str(request.base_url).rstrip("/")
        prefix = request.scope.get("root_path", "")
        return base + prefix, v, user

    # ---- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        api: list[BaseRoute] = [
            Route("/rest/api/{v}/serverInfo", self._server_info, methods=["GET"]),
            Route("/rest/api/{v}/myself", self._myself, methods=["GET"]),
            Route("/rest/api/{v}/project", self._projects_all, methods=["GET"]),
            Route("/rest/api/{v}/project/search", self._projects_search, methods=["GET"]),
            Route("/rest/api/{v}/project/{key}", self._project, methods=["GET"]),
            Route("/rest/api/{v}/users/search", self._users_cloud, methods=["GET"]),
            Route("/rest/api/{v}/user/search", self._users_server, methods=["GET"]),
            Route("/rest/api/{v}/search/jql", self._search_jql, methods=["GET", "POST"]),
            Route("/rest/api/{v}/search", self._search, methods=["GET", "POST"]),
            Route("/rest/api/{v}/issue", self._create_issue, methods=["POST"]),
            Route("/rest/api/{v}/issue/{key}", self._issue, methods=["GET", "DELETE"]),
            Route("/rest/api/{v}/issue/{key}/transitions", self._transitions,
                  methods=["GET", "POST"]),
            Route("/rest/api/{v}/issue/{key}/comment", self._comments, methods=["GET", "POST"]),
            Route("/rest/api/{v}/issue/{key}/properties/{prop}", self._property,
                  methods=["GET", "PUT"]),
        ]
        if self.cloud:
            return [*api, Mount(f"/ex/jira/{CLOUD_ID}", routes=list(api))]
        return api

    async def _server_info(self, request: Request) -> Response:
        base, _, _ = self._ctx(request)
        now = datetime.now(UTC)
        if self.cloud:
            return JSONResponse({
                "baseUrl": base, "displayUrl": base, "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
                "buildNumber": 100261, "buildDate": "2026-01-05T00:00:00.000+0000",
                "serverTime": _jira_time(now), "scmInfo": "8a0f2f5c", "serverTitle": "Jira",
                "defaultLocale": {"locale": "en_US"}, "serverTimeZone": "Etc/UTC",
            })
        return JSONResponse({
            "baseUrl": base, "version": "9.12.2", "versionNumbers": [9, 12, 2],
            "deploymentType": "Server", "buildNumber": 9120002,
            "buildDate": "2024-01-15T00:00:00.000+0000", "databaseBuildNumber": 9120002,
            "serverTime": _jira_time(now), "scmInfo": "b4d3a5e0", "serverTitle": "ACME Jira",
        })

    async def _myself(self, request: Request) -> Response:
        base, v, user = self._ctx(request)
        return JSONResponse(self._render_user(user, base, v))

    async def _projects_all(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        return JSONResponse([self._render_project(p, base, v) for p in self.projects])

    async def _project(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        wanted = request.path_params["key"]
        project = next((p for p in self.projects if wanted in (p["key"], p["id"])), None)
        if project is None:
            raise SimError(_errors(404, [f"No project could be found with key '{wanted}'."]))
        return JSONResponse(self._render_project(project, base, v))

    def _render_project(self, p: dict[str, Any], base: str, v: str) -> dict[str, Any]:
        return {"self": f"{base}/rest/api/{v}/project/{p['id']}", **p,
                "lead": self._render_user(p["lead"], base, v)}

    async def _projects_search(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        if not self.cloud:
            raise SimError(_errors(404, ["null for uri: " + request.url.path]))
        start, size = _paging(request.query_params, self.max_results_cap)
        values = self.projects[start : start + size]
        last = start + size >= len(self.projects)
        body: dict[str, Any] = {
            "self": str(request.url), "maxResults": size, "startAt": start,
            "total": len(self.projects), "isLast": last,
            "values": [self._render_project(p, base, v) for p in values],
        }
        if not last:
            body["nextPage"] = str(request.url.include_query_params(startAt=start + size))
        return JSONResponse(body)

    async def _users_cloud(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        if not self.cloud:
            raise SimError(_errors(404, ["null for uri: " + request.url.path]))
        start, size = _paging(request.query_params, 1000)
        return JSONResponse([self._render_user(u, base, v)
                             for u in self.users[start : start + size]])

    async def _users_server(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        q = request.query_params
        needle = q.get("username") if not self.cloud else q.get("query")
        if not needle:
            raise SimError(_errors(400, ["The username query parameter was not provided"]))
        users = self.users
        if q.get("includeInactive", "false").lower() != "true":
            users = [u for u in users if u["active"]]
        if needle != ".":
            users = [u for u in users if needle.lower() in json.dumps(u).lower()]
        start, size = _paging(q, 1000)
        return JSONResponse([self._render_user(u, base, v) for u in users[start : start + size]])

    def _field_value(self, issue: dict[str, Any], field: str) -> Any:
        if field in ("key", "issuekey", "issue"):
            return issue["key"]
        if field == "statuscategory":
            return _STATUSES[issue["status"]][4]
        if field in ("issuetype", "type"):
            return issue["issuetype"]
        if field == "text":
            return f"{issue['summary']} {issue['description'] or ''}"
        return issue.get(field)

    def _query(self, jql: str, *, require_bounded: bool) -> list[dict[str, Any]]:
        try:
            query = parse_jql(jql, field_value=self._field_value,
                              zone=ZoneInfo(self.user_timezone))
        except JqlError as exc:
            raise SimError(_errors(400, [str(exc)])) from None
        if require_bounded and not query.bounded:
            raise SimError(_errors(400, [
                "Unbounded JQL queries are not allowed here. Please add a search restriction "
                "to your query."]))
        visible_before = time.time() - self.search_lag_s
        with self.lock:
            found = [i for i in self.issues.values()
                     if i["indexed_at"] <= visible_before and query.matches(i)]
        order = query.order or [("created", True)]
        for field, descending in reversed(order):
            found.sort(key=self._sorter(field), reverse=descending)
        return found

    def _sorter(self, field: str) -> Callable[[dict[str, Any]], Any]:
        return lambda issue: _sort_key(self._field_value(issue, field), field)

    async def _search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = await _json_body(request)
            fields = body.get("fields")
            return {**body, "fields": ",".join(fields) if isinstance(fields, list) else fields}
        return dict(request.query_params)

    def _fields(self, raw: Any, default: set[str] | None) -> set[str] | None:
        if raw is None or raw == "":
            return default
        names = {f.strip() for f in str(raw).split(",") if f.strip()}
        if names & {"*all", "*navigable"}:
            return None
        return names

    async def _search_jql(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        if not self.cloud:
            raise SimError(_errors(404, ["null for uri: " + request.url.path]))
        params = await self._search_params(request)
        found = self._query(str(params.get("jql", "")), require_bounded=True)
        size = _int(params.get("maxResults"), 50, self.max_results_cap * 2)
        start = 0
        token = params.get("nextPageToken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(str(token).encode()).decode().split(":")[1])
            except (ValueError, IndexError):
                raise SimError(_errors(400, ["The provided next page token is invalid."])) from None
        fields = self._fields(params.get("fields"), {"id"})
        chunk = found[start : start + size]
        body: dict[str, Any] = {
            "issues": [self._render_issue(i, base, v, fields) for i in chunk],
            "isLast": start + size >= len(found),
        }
        if not body["isLast"]:
            raw = f"{secrets.token_hex(4)}:{start + size}".encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(raw).decode()
        return JSONResponse(body)

    async def _search(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        params = await self._search_params(request)
        found = self._query(str(params.get("jql", "")), require_bounded=False)
        start = _int(params.get("startAt"), 0, 10**9)
        size = _int(params.get("maxResults"), 50, self.max_results_cap)
        fields = self._fields(params.get("fields"), None)
        return JSONResponse({
            "expand": "schema,names", "startAt": start, "maxResults": size, "total": len(found),
            "issues": [self._render_issue(i, base, v, fields)
                       for i in found[start : start + size]],
        })

    def _get_issue(self, key: str) -> dict[str, Any]:
        with self.lock:
            issue = self.issues.get(key.upper()) or next(
                (i for i in self.issues.values() if i["id"] == key), None)
        if issue is None:
            raise SimError(_errors(
                404, ["Issue does not exist or you do not have permission to see it."]))
        return issue

    async def _issue(self, request: Request) -> Response:
        base, v, _ = self._ctx(request)
        issue = self._get_issue(request.path_params["key"])
        if request.method == "DELETE":
            with self.lock:
                self.issues.pop(issue["key"], None)
            return Response(status_code=204)
        fields = self._fields(request.query_params.get("fields"), None)
        return JSONResponse(self._render_issue(issue, base, v, fields))

    def _body_text(self, value: Any, v: str, field: str, errors: dict[str, str]) -> str | None:
        if value is None:
            return None
        if v == "3":
            if not _is_adf(value):
                errors[field] = "Operation value must be an Atlassian Document (see the " \
                                "Atlassian Document Format)."
                return None
            return adf_text(value)
        if not isinstance(value, str):
            errors[field] = "Operation value must be a string"
            return None
        return value

    async def _create_issue(self, request: Request) -> Response:
        base, v, user = self._ctx(request)
        body = await _json_body(request)
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise SimError(_errors(400, ["Can not deserialize instance of fields."]))
        errors: dict[str, str] = {}
        project_ref = fields.get("project") or {}
        project = next((p for p in self.projects if isinstance(project_ref, dict) and (
            p["key"] == project_ref.get("key") or p["id"] == project_ref.get("id"))), None)
        if project is None:
            errors["project"] = "valid project is required"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        type_ref = fields.get("issuetype") or {}
        issue_type = next((n for n, i in _TYPES.items() if isinstance(type_ref, dict) and (
            n == type_ref.get("name") or i == type_ref.get("id"))), None)
        if issue_type is None:
            errors["issuetype"] = "Specify an issue type"
        priority_ref = fields.get("priority") or {"name": "Medium"}
        priority = next((n for n, i in _PRIORITIES.items() if isinstance(priority_ref, dict) and (
            n == priority_ref.get("name") or i == priority_ref.get("id"))), None)
        if priority is None:
            errors["priority"] = "Specify the Priority (id or name) in the string format"
        labels = fields.get("labels") or []
        if not isinstance(labels, list) or any(
            not isinstance(lb, str) or " " in lb or not lb for lb in labels
        ):
            errors["labels"] = "The label must not contain spaces."
        description = self._body_text(fields.get("description"), v, "description", errors)
        if errors:
            raise SimError(_errors(400, [], errors))
        assert project is not None
        assert issue_type is not None
        assert priority is not None
        properties = {p["key"]: p.get("value") for p in body.get("properties") or []
                      if isinstance(p, dict) and "key" in p}
        with self.lock:
            copies = 2 if self.race_next_create else 1
            self.race_next_create = False
            for _ in range(copies):
                issue = self._new_issue(
                    str(project["key"]), str(summary), description, issue_type, priority,
                    labels=list(labels), created=self._now(), reporter=user, assignee=None,
                    properties=properties,
                )
        return JSONResponse({"id": issue["id"], "key": issue["key"],
                             "self": f"{base}/rest/api/{v}/issue/{issue['id']}"},
                            status_code=201)

    def _available(self, issue: dict[str, Any]) -> list[tuple[str, str]]:
        return [(tid, to) for tid, to in _TRANSITIONS if to != issue["status"]]

    async def _transitions(self, request: Request) -> Response:
        base, v, user = self._ctx(request)
        issue = self._get_issue(request.path_params["key"])
        if request.method == "GET":
            return JSONResponse({"expand": "transitions", "transitions": [
                {"id": tid, "name": to, "to": self._render_status(to, base, v),
                 "hasScreen": False, "isGlobal": True, "isInitial": False,
                 "isAvailable": True, "isConditional": False, "isLooped": False}
                for tid, to in self._available(issue)]})
        body = await _json_body(request)
        wanted = str((body.get("transition") or {}).get("id", ""))
        match = next((to for tid, to in self._available(issue) if tid == wanted), None)
        if match is None:
            raise SimError(_errors(400, [f"Transition id '{wanted}' is not valid for this issue."]))
        errors: dict[str, str] = {}
        comments = ((body.get("update") or {}).get("comment") or [])
        texts = [self._body_text((c.get("add") or {}).get("body"), v, "comment", errors)
                 for c in comments if isinstance(c, dict)]
        if errors:
            raise SimError(_errors(400, [], errors))
        with self.lock:
            now = self._now()
            issue["status"] = match
            issue["updated"] = now
            issue["resolutiondate"] = now if match == "Done" else None
            for text in texts:
                self._add_comment(issue, text or "", user, now, [])
        return Response(status_code=204)

    async def _comments(self, request: Request) -> Response:
        base, v, user = self._ctx(request)
        issue = self._get_issue(request.path_params["key"])
        if request.method == "GET":
            start, size = _paging(request.query_params, self.max_results_cap)
            with_props = "properties" in request.query_params.get("expand", "")
            return JSONResponse({
                "startAt": start, "maxResults": size, "total": len(issue["comments"]),
                "comments": [self._render_comment(c, issue, base, v, with_props)
                             for c in issue["comments"][start : start + size]],
            })
        body = await _json_body(request)
        errors: dict[str, str] = {}
        text = self._body_text(body.get("body"), v, "comment", errors)
        if not errors and not (text or "").strip():
            errors["comment"] = "Comment body can not be empty!"
        if errors:
            raise SimError(_errors(400, [], errors))
        props = [p for p in body.get("properties") or [] if isinstance(p, dict) and "key" in p]
        with self.lock:
            comment = self._add_comment(issue, text or "", user, self._now(), props)
        return JSONResponse(self._render_comment(comment, issue, base, v, True), status_code=201)

    async def _property(self, request: Request) -> Response:
        self._ctx(request)
        issue = self._get_issue(request.path_params["key"])
        prop = request.path_params["prop"]
        if request.method == "GET":
            if prop not in issue["properties"]:
                raise SimError(_errors(404, [f"The property with key '{prop}' does not exist."]))
            return JSONResponse({"key": prop, "value": issue["properties"][prop]})
        value = json.loads(await request.body() or b"null")
        with self.lock:
            existed = prop in issue["properties"]
            issue["properties"][prop] = value
        return Response(status_code=200 if existed else 201)

    # ---- webhooks -----------------------------------------------------------------------------

    def deliver_webhook(
        self, url: str, event: str = "jira:issue_updated", *, key: str | None = None,
        secret: str | None = None, timeout: float = 10.0,
    ) -> dict[str, Any]:
        """POST a Jira webhook (``X-Hub-Signature: sha256=...`` when ``secret`` is set)."""
        with self.lock:
            issue = self.issues[key] if key else next(iter(self.issues.values()))
            payload = {
                "timestamp": int(time.time() * 1000),
                "webhookEvent": event,
                "issue_event_type_name": "issue_generic",
                "user": self._render_user(self.users[0], "https://jira.example", "2"),
                "issue": self._render_issue(issue, "https://jira.example", "2", None),
                "changelog": {"id": "10500", "items": [
                    {"field": "status", "fieldtype": "jira", "from": None, "fromString": "To Do",
                     "to": None, "toString": issue["status"]}]},
            }
        body = json.dumps(payload).encode()
        identifier = str(secrets.randbelow(10**9))
        headers = {"Content-Type": "application/json",
                   "User-Agent": "Atlassian Webhook HTTP Client",
                   "X-Atlassian-Webhook-Identifier": identifier}
        if secret is not None:
            headers["X-Hub-Signature"] = "sha256=" + hmac.new(
                secret.encode(), body, hashlib.sha256).hexdigest()
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.post(url, content=body, headers=headers)
        return {"identifier": identifier, "status": response.status_code, "event": event}

    def trigger(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        url = payload.get("url")
        if not isinstance(url, str):
            raise SimError(JSONResponse({"error": "url is required"}, status_code=400))
        secret = payload.get("secret")
        return self.deliver_webhook(url, str(payload.get("event", "jira:issue_updated")),
                                    key=payload.get("key"),
                                    secret=str(secret) if secret is not None else None)


# ---- helpers ----------------------------------------------------------------------------------


def _errors(status: int, messages: list[str], errors: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorMessages": messages, "errors": errors or {}}, status_code=status)


def _int(value: Any, default: int, cap: int) -> int:
    try:
        number = int(value) if value is not None else default
    except (TypeError, ValueError):
        raise SimError(_errors(400, [f"'{value}' is not a valid number"])) from None
    return max(0, min(number, cap))


def _paging(q: Mapping[str, str], cap: int) -> tuple[int, int]:
    return _int(q.get("startAt"), 0, 10**9), max(1, _int(q.get("maxResults"), 50, cap))


def _sort_key(value: Any, field: str) -> Any:
    if field in ("key", "issuekey", "issue") and isinstance(value, str) and "-" in value:
        project, number = value.rsplit("-", 1)
        return (project, int(number) if number.isdigit() else 0)
    if isinstance(value, datetime):
        return value.timestamp()
    return str(value or "")
