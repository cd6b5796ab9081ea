"""The GitHub connector's streams: members (2FA), repositories, branch protection,
Dependabot alerts, code scanning alerts and workflow runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import httpx

from connectors.sdk.errors import DataError, PermissionDeniedError, RemoteError
from connectors.sdk.http import HttpClient, LinkHeaderPaginator, PageRequest
from connectors.sdk.streams import Stream, cursor_sort_key

__all__ = [
    "BranchProtection",
    "CodeScanningAlerts",
    "DependabotAlerts",
    "GitHubApi",
    "Members",
    "Repositories",
    "WorkflowRuns",
]

log = logging.getLogger("connectors.github")


def _n(*types: str) -> dict[str, Any]:
    return {"type": [*types, "null"]}


_USER_REF = {
    "type": ["object", "null"],
    "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
}


class Settings(Protocol):
    organization: str
    repositories: list[str]
    include_archived: bool
    page_size: int
    workflow_runs_initial_days: int
    workflow_runs_lookback_hours: int


@dataclass
class GitHubApi:
    """What the streams share: the client and the settings."""

    http: HttpClient
    settings: Settings

    @property
    def org(self) -> str:
        return self.settings.organization

    async def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        tolerate: Collection[int] = (),
    ) -> AsyncIterator[httpx.Response]:
        """Every page of a ``Link``-paginated list; a first answer in ``tolerate`` ends it.

        Next links must stay on the API's origin (they carry our credentials) and may not
        repeat (a loop raises :class:`PaginationLoopError`).
        """
        pager = LinkHeaderPaginator()
        request = PageRequest(url=path, params={"per_page": self.settings.page_size,
                                                **dict(params or {})})
        origin = _origin(self.http.base_url)
        first = True
        while True:
            response = await self.http.request(
                "GET", request.url, params=request.params or None,
                ok_statuses=tolerate if first else (),
            )
            if first and response.status_code in tolerate:
                yield response
                return
            first = False
            yield response
            pager.update_state(response, [])
            if not pager.has_next or pager.next_url is None:
                return
            target = httpx.URL(pager.next_url)
            if _origin(target) != origin:
                raise RemoteError(
                    f"Refusing to follow a next-page link to another host ({target.host}).",
                    hint="The API's pagination points elsewhere; report it to GitHub support.",
                )
            pager.update_request(request)

    async def items(
        self, path: str, params: Mapping[str, Any] | None = None, *, key: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        async for response in self.pages(path, params):
            for item in _records(response, key):
                yield item

    async def repositories(self) -> list[dict[str, Any]]:
        """The organisation's repositories the configuration selects."""
        wanted = {name.lower() for name in self.settings.repositories}
        found: list[dict[str, Any]] = []
        async for repo in self.items(f"/orgs/{self.org}/repos", {"type": "all"}):
            if wanted and str(repo.get("name", "")).lower() not in wanted:
                continue
            if repo.get("archived") and not self.settings.include_archived:
                continue
            found.append(repo)
        return found


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _records(response: httpx.Response, key: str | None) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        raise DataError(f"GitHub answered {response.url.path} with a non-JSON body.") from None
    items = body.get(key) if key and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise DataError(f"GitHub answered {response.url.path} without the expected list.")
    return [item for item in items if isinstance(item, dict)]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


class _GitHubStream(Stream):
    def __init__(self, api: GitHubApi) -> None:
        self.api = api


class Members(_GitHubStream):
    """Organisation members with their role and whether two-factor authentication is on.

    GitHub does not put the 2FA state on a member; it lists the members *without* 2FA
    (``filter=2fa_disabled``, organisation owners only). Without owner rights
    ``two_factor_enabled`` is null, never guessed.
    """

    name = "members"
    description = "Organisation members, their role and 2FA status."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "login", "role"],
        "properties": {
            "id": {"type": "integer"},
            "login": {"type": "string"},
            "node_id": {"type": "string"},
            "type": {"type": "string"},
            "site_admin": {"type": "boolean"},
            "html_url": {"type": "string"},
            "avatar_url": {"type": "string"},
            "organization": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "member"]},
            "two_factor_enabled": _n("boolean"),
        },
    }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        org = self.api.org
        admins = {m["login"] async for m in self.api.items(f"/orgs/{org}/members",
                                                            {"role": "admin"})}
        without_2fa: set[str] | None = set()
        async for response in self.api.pages(
            f"/orgs/{org}/members", {"filter": "2fa_disabled"}, tolerate=(403, 422)
        ):
            if response.status_code in (403, 422):
                log.warning(
                    "2FA status of %s members is unknown: the credential is not an "
                    "organisation owner (%s)", org, response.status_code,
                )
                without_2fa = None
                break
            assert without_2fa is not None
            without_2fa |= {m["login"] for m in _records(response, None)}
        async for member in self.api.items(f"/orgs/{org}/members"):
            login = member.get("login")
            yield {
                **member,
                "organization": org,
                "role": "admin" if login in admins else "member",
                "two_factor_enabled": None if without_2fa is None else login not in without_2fa,
            }


class Repositories(_GitHubStream):
    name = "repositories"
    description = "The organisation's repositories (visibility, default branch, archived)."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "name", "full_name"],
        "properties": {
            "id": {"type": "integer"},
            "node_id": {"type": "string"},
            "name": {"type": "string"},
            "full_name": {"type": "string"},
            "private": {"type": "boolean"},
            "visibility": _n("string"),
            "owner": _USER_REF,
            "html_url": {"type": "string"},
            "description": _n("string"),
            "fork": {"type": "boolean"},
            "archived": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "default_branch": _n("string"),
            "language": _n("string"),
            "topics": {"type": "array", "items": {"type": "string"}},
            "created_at": _n("string"),
            "updated_at": _n("string"),
            "pushed_at": _n("string"),
        },
    }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        for repo in await self.api.repositories():
            yield repo


class BranchProtection(_GitHubStream):
    """The protection of each repository's default branch, one record per repository.

    An unprotected branch is a record with ``protected: false`` (GitHub answers 404 ``Branch
    not protected``); when GitHub will not tell (403: no administration read permission, or a
    plan without branch protection on private repositories) ``protected`` is null and
    ``unavailable_reason`` says why.
    """

    name = "branch_protection"
    description = "Default-branch protection settings per repository."
    primary_key = ("id",)
    detects_deletions = True
    json_schema = {
        "type": "object",
        "required": ["id", "repository", "branch", "protected"],
        "properties": {
            "id": {"type": "string"},
            "repository": {"type": "string"},
            "repository_id": {"type": "integer"},
            "branch": {"type": "string"},
            "protected": _n("boolean"),
            "unavailable_reason": _n("string"),
            "required_approving_review_count": _n("integer"),
            "dismiss_stale_reviews": _n("boolean"),
            "require_code_owner_reviews": _n("boolean"),
            "enforce_admins": _n("boolean"),
            "required_status_checks": _n("array"),
            "strict_status_checks": _n("boolean"),
            "allow_force_pushes": _n("boolean"),
            "allow_deletions": _n("boolean"),
            "required_linear_history": _n("boolean"),
            "required_signatures": _n("boolean"),
            "required_conversation_resolution": _n("boolean"),
            "protection": _n("object"),
        },
    }

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        for repo in await self.api.repositories():
            branch = repo.get("default_branch")
            if not branch:
                continue  # an empty repository has no branch to protect
            response = await self.api.http.request(
                "GET",
                f"/repos/{repo['full_name']}/branches/{branch}/protection",
                ok_statuses=(403, 404),
            )
            base = {
                "id": f"{repo['full_name']}:{branch}",
                "repository": repo["full_name"],
                "repository_id": repo["id"],
                "branch": branch,
            }
            if response.status_code == 404:
                if "not protected" not in _message(response).lower():
                    continue  # branch or repository gone since the listing
                yield {**base, "protected": False, "protection": None}
            elif response.status_code == 403:
                yield {**base, "protected": None, "protection": None,
                       "unavailable_reason": _message(response)[:200] or "403 Forbidden"}
            else:
                yield {**base, **_flatten_protection(response.json())}


def _enabled(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    return bool(value.get("enabled")) if isinstance(value, Mapping) else None


def _flatten_protection(body: dict[str, Any]) -> dict[str, Any]:
    reviews = body.get("required_pull_request_reviews") or {}
    checks = body.get("required_status_checks") or {}
    return {
        "protected": True,
        "required_approving_review_count": (
            int(reviews.get("required_approving_review_count", 0)) if reviews else 0
        ),
        "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")) if reviews else False,
        "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews"))
        if reviews else False,
        "enforce_admins": _enabled(body, "enforce_admins"),
        "required_status_checks": list(checks.get("contexts") or []),
        "strict_status_checks": bool(checks.get("strict")) if checks else False,
        "allow_force_pushes": _enabled(body, "allow_force_pushes"),
        "allow_deletions": _enabled(body, "allow_deletions"),
        "required_linear_history": _enabled(body, "required_linear_history"),
        "required_signatures": _enabled(body, "required_signatures"),
        "required_conversation_resolution": _enabled(body, "required_conversation_resolution"),
        "protection": body,
    }


class _AlertStream(_GitHubStream):
    """Alerts per repository, newest update first; incremental by ``updated_at``.

    Reading stops in each repository at the first alert older than the cursor (the list is
    sorted by ``updated`` descending), so an incremental run reads little. Repositories where
    the feature is off are skipped, not failed.
    """

    path: ClassVar[str]
    feature: ClassVar[str]
    primary_key = ("id",)
    cursor_field = "updated_at"

    def disabled(self, response: httpx.Response) -> bool:
        raise NotImplementedError

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        since = cursor_sort_key(cursor) if cursor is not None else None
        for repo in await self.api.repositories():
            full = repo["full_name"]
            params = {"sort": "updated", "direction": "desc", "state": self.states}
            stop = False
            async for response in self.api.pages(
                f"/repos/{full}/{self.path}", params, tolerate=(403, 404)
            ):
                if response.status_code in (403, 404):
                    if not self.disabled(response):
                        raise PermissionDeniedError(
                            f"GitHub refused to list {self.feature} of {full} "
                            f"({response.status_code}).",
                            hint=self.permission_hint,
                        )
                    log.info("%s are off for %s; skipped", self.feature, full)
                    break
                for alert in _records(response, None):
                    updated = alert.get("updated_at")
                    if since is not None and updated and cursor_sort_key(updated) < since:
                        stop = True
                        break
                    yield {**alert, "id": f"{full}#{alert.get('number')}", "repository": full,
                           "repository_id": repo["id"]}
                if stop:
                    break

    states: ClassVar[str] = "open,dismissed,fixed,auto_dismissed"
    permission_hint: ClassVar[str] = ""


def _alert_schema(**properties: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of an alert stream's record: the fields every alert kind has, plus its
    own (``updated_at`` is nullable for code scanning alerts, never for Dependabot's)."""
    return {
        "type": "object",
        "required": ["id", "number", "state", "repository", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "number": {"type": "integer"},
            "state": {"type": "string"},
            "repository": {"type": "string"},
            "repository_id": {"type": "integer"},
            "html_url": {"type": "string"},
            "created_at": {"type": "string"},
            "fixed_at": _n("string"),
            "dismissed_at": _n("string"),
            **properties,
        },
    }


class DependabotAlerts(_AlertStream):
    name = "dependabot_alerts"
    description = "Dependabot alerts (vulnerable dependencies) of every repository."
    path = "dependabot/alerts"
    feature = "Dependabot alerts"
    permission_hint = (
        "Give the token the 'Dependabot alerts: read' permission (fine-grained / GitHub App) "
        "or the 'security_events' scope (classic)."
    )
    json_schema = _alert_schema(
        dependency={"type": "object"},
        security_advisory={
            "type": "object",
            "properties": {
                "ghsa_id": {"type": "string"},
                "cve_id": _n("string"),
                "summary": {"type": "string"},
                "severity": {"type": "string"},
            },
        },
        security_vulnerability={"type": "object"},
        updated_at={"type": "string"},
        dismissed_reason=_n("string"),
    )

    def disabled(self, response: httpx.Response) -> bool:
        return response.status_code == 403 and "disabled" in _message(response).lower()


class CodeScanningAlerts(_AlertStream):
    name = "code_scanning_alerts"
    description = "Code scanning (e.g. CodeQL) alerts of every repository."
    path = "code-scanning/alerts"
    feature = "Code scanning alerts"
    states = "open,dismissed,fixed"
    permission_hint = (
        "Give the token the 'Code scanning alerts: read' permission (fine-grained / GitHub "
        "App) or the 'security_events' scope (classic)."
    )
    json_schema = _alert_schema(
        rule={
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "severity": _n("string"),
                "security_severity_level": _n("string"),
                "description": {"type": "string"},
            },
        },
        tool={"type": "object"},
        most_recent_instance={"type": "object"},
        updated_at=_n("string"),
    )

    def disabled(self, response: httpx.Response) -> bool:
        text = _message(response).lower()
        if response.status_code == 404:
            return "no analysis found" in text or "not enabled" in text
        return "must be enabled" in text or "disabled" in text


class WorkflowRuns(_GitHubStream):
    """GitHub Actions workflow runs, incremental by ``updated_at``.

    GitHub filters runs by creation time only, and a run changes after it was created (it
    completes). So each run asks for runs *created* since the cursor minus a look-back window
    (``workflow_runs_lookback_hours``) and lets the cursor drop the ones already read; the
    first run reads ``workflow_runs_initial_days`` back.
    """

    name = "workflow_runs"
    description = "GitHub Actions workflow runs (status, conclusion, actor, commit)."
    primary_key = ("id",)
    cursor_field = "updated_at"
    json_schema = {
        "type": "object",
        "required": ["id", "status", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            "name": _n("string"),
            "run_number": {"type": "integer"},
            "event": {"type": "string"},
            "status": _n("string"),
            "conclusion": _n("string"),
            "head_branch": _n("string"),
            "head_sha": {"type": "string"},
            "workflow_id": {"type": "integer"},
            "html_url": {"type": "string"},
            "actor": _USER_REF,
            "repository": {"type": "object", "properties": {"full_name": {"type": "string"}}},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "run_started_at": _n("string"),
        },
    }

    def _since(self, cursor: Any | None) -> str:
        settings = self.api.settings
        if cursor is None:
            start = datetime.now(UTC) - timedelta(days=settings.workflow_runs_initial_days)
        else:
            parsed = datetime.fromisoformat(str(cursor).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            start = parsed - timedelta(hours=settings.workflow_runs_lookback_hours)
        return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def read_records(self, cursor: Any | None) -> AsyncIterator[Mapping[str, Any]]:
        created = ">=" + self._since(cursor)
        for repo in await self.api.repositories():
            async for run in self.api.items(
                f"/repos/{repo['full_name']}/actions/runs", {"created": created},
                key="workflow_runs",
            ):
                yield run
