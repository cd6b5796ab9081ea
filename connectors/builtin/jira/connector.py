"""Jira (ITSM, bi-directional): projects, users and issues in; issues, transitions and
comments out, idempotently, so the same finding never opens two issues.

``serverInfo`` decides the API: ``deploymentType: Cloud`` -> REST v3 (ADF bodies, token-paged
``/search/jql``), otherwise Server / Data Center -> REST v2 (see :mod:`.adapters`).
Credentials: e-mail + API token (``basic``, Cloud), personal access token (``bearer``,
Server/DC), OAuth 2.0 3LO (``oauth2_authorization_code``; base URL
``https://api.atlassian.com/ex/jira/{cloudId}``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.builtin.jira.adapters import JiraAdapter, JiraCloudAdapter, JiraServerAdapter
from connectors.builtin.jira.streams import Issues, Projects, Users
from connectors.sdk.actions import action
from connectors.sdk.connector import Connector
from connectors.sdk.errors import (
    ConfigError,
    DataError,
    InvalidInputError,
    PermissionDeniedError,
    WebhookVerificationError,
    error_for_response,
)
from connectors.sdk.fields import secret_field
from connectors.sdk.http import HttpClient
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.streams import Stream
from connectors.sdk.webhooks import WebhookEvent, WebhookRequest, verify_hmac_signature

__all__ = [
    "AddComment",
    "CreateIssue",
    "JiraConfig",
    "JiraConnector",
    "TransitionIssue",
    "dedupe_label",
    "default_mappings",
]

MAPPINGS_DIR = Path(__file__).parent / "mappings"
PROPERTY_KEY = "simpletrust"
_ISSUE_KEY = r"^[A-Z][A-Z0-9_]+-\d+$"
_PROJECT_KEY = r"^[A-Z][A-Z0-9_]{1,9}$"
_MEMO_SIZE = 10_000


class JiraConfig(BaseModel):
    """Configuration of a Jira instance."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str = Field(
        description="Site URL (https://acme.atlassian.net, https://jira.acme.internal) or, "
        "with OAuth 2.0, https://api.atlassian.com/ex/jira/<cloudId>."
    )
    projects: list[str] = Field(
        default_factory=list, description="Project keys to read issues from; empty: all."
    )
    jql: str | None = Field(
        None, max_length=2000, description="Extra JQL restriction, ANDed to the issue query."
    )
    page_size: int = Field(50, ge=1, le=100, description="Items per request.")
    checkpoint_every: int = Field(
        500, ge=1, le=100_000, description="Issues between saved checkpoints."
    )
    webhook_secret: SecretStr | None = secret_field(
        None, description="Secret of the Jira webhook (verifies X-Hub-Signature)."
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("projects")
    @classmethod
    def _projects(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(_PROJECT_KEY, v)]
        if bad:
            raise ValueError(f"not project keys: {', '.join(bad[:3])} (e.g. 'SEC')")
        return value

    @field_validator("jql")
    @classmethod
    def _jql(cls, value: str | None) -> str | None:
        if value and re.search(r"\border\s+by\b", value, re.IGNORECASE):
            raise ValueError("must not contain ORDER BY (the connector orders by update time)")
        return value or None


def _label_list(value: list[str]) -> list[str]:
    bad = [v for v in value if not v or re.search(r"\s", v)]
    if bad:
        raise ValueError("labels must be non-empty and contain no spaces")
    return value


class CreateIssue(BaseModel):
    """Open an issue; with ``dedupe_key`` (e.g. the finding id), at most one per key."""

    model_config = ConfigDict(extra="forbid")

    project_key: str = Field(pattern=_PROJECT_KEY, description="Project key, e.g. 'SEC'.")
    summary: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=30_000)
    issue_type: str = Field("Task", min_length=1)
    priority: str | None = None
    labels: list[str] = Field(default_factory=list)
    dedupe_key: str | None = Field(
        None, min_length=1, max_length=500,
        description="Idempotency key: the same key never opens a second issue.",
    )

    _labels = field_validator("labels")(_label_list)


class TransitionIssue(BaseModel):
    """Move an issue to a status (by transition id or name, or target status name)."""

    model_config = ConfigDict(extra="forbid")

    issue_key: str = Field(pattern=_ISSUE_KEY)
    to: str = Field(min_length=1, description="Transition id or name, or the target status.")
    comment: str | None = Field(None, max_length=30_000)


class AddComment(BaseModel):
    """Comment on an issue; with ``dedupe_key``, at most once per key."""

    model_config = ConfigDict(extra="forbid")

    issue_key: str = Field(pattern=_ISSUE_KEY)
    body: str = Field(min_length=1, max_length=30_000)
    dedupe_key: str | None = Field(None, min_length=1, max_length=500)


def dedupe_label(key: str) -> str:
    """The label that marks the issue opened for ``key`` (labels cannot hold spaces)."""
    return "simpletrust-" + hashlib.sha256(key.encode()).hexdigest()[:20]


# One lock per (Jira site, project, dedupe key) in this process, so concurrent calls for the
# same finding run one after the other; entries vanish when no call holds them.
_LOCKS: weakref.WeakValueDictionary[tuple[Any, ...], asyncio.Lock] = weakref.WeakValueDictionary()
# Issues this process opened, by (site, project, dedupe key): Jira Cloud's search is
# eventually consistent, so an issue opened a moment ago may not be found by label yet.
_OPENED: OrderedDict[tuple[str, str, str], str] = OrderedDict()


def _lock_for(key: tuple[str, str, str]) -> asyncio.Lock:
    loop_key = (id(asyncio.get_running_loop()), *key)
    lock = _LOCKS.get(loop_key)
    if lock is None:
        lock = asyncio.Lock()
        _LOCKS[loop_key] = lock
    return lock


def _remember(key: tuple[str, str, str], issue_key: str) -> None:
    _OPENED[key] = issue_key
    _OPENED.move_to_end(key)
    while len(_OPENED) > _MEMO_SIZE:
        _OPENED.popitem(last=False)


class JiraConnector(Connector[JiraConfig]):
    """The built-in Jira connector."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="jira",
        name="Jira",
        description="Projects, users and issues from Jira Cloud or Server/Data Center; opens, "
        "transitions and comments on remediation issues, never twice for one finding.",
        version="1.0.0",
        system_type=SystemType.ITSM,
        vendor="Atlassian",
        author="SimpleTrust",
        documentation_url="https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
        auth_methods=(AuthMethod.BASIC, AuthMethod.BEARER, AuthMethod.OAUTH2_AUTHORIZATION_CODE),
        api_versions=("2", "3"),
    )
    config_model: ClassVar[type[BaseModel]] = JiraConfig
    api_adapters: ClassVar[Mapping[str, Any]] = {
        "2": lambda c: JiraServerAdapter(c.http, c.config.page_size),
        "3": lambda c: JiraCloudAdapter(c.http, c.config.page_size),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http: HttpClient | None = None
        self.server_info: dict[str, Any] | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = self.http_client(
                self.config.base_url, headers={"Accept": "application/json"}
            )
        return self._http

    async def adapter(self) -> JiraAdapter:
        """The adapter ``serverInfo`` selects (asked once per instance)."""
        if self.api_adapter is None:
            await self.negotiate_api_version()
        adapter = self.api_adapter
        assert isinstance(adapter, JiraAdapter)
        return adapter

    # ---- check ------------------------------------------------------------------------------

    async def _server_info(self) -> dict[str, Any]:
        if self.server_info is None:
            response = await self.http.request(
                "GET", "/rest/api/2/serverInfo", ok_statuses=(404,)
            )
            if response.status_code == 404:
                raise ConfigError(
                    "No Jira REST API at this base URL (404 on /rest/api/2/serverInfo).",
                    hint="Use the site URL (https://<site>.atlassian.net or your Jira server's "
                    "URL, including any context path like /jira).",
                )
            body = _json(response)
            if not isinstance(body, dict) or "deploymentType" not in body:
                raise DataError("Jira's serverInfo answer has no deploymentType.")
            self.server_info = body
        return self.server_info

    async def check_connection(self) -> None:
        info = await self._server_info()
        version = "3" if info.get("deploymentType") == "Cloud" else "2"
        await self.http.get_json(f"/rest/api/{version}/myself")  # authenticates

    async def check_permissions(self) -> None:
        info = await self._server_info()
        version = "3" if info.get("deploymentType") == "Cloud" else "2"
        missing = []
        for key in self.config.projects:
            response = await self.http.request(
                "GET", f"/rest/api/{version}/project/{key}", ok_statuses=(403, 404)
            )
            if response.status_code in (403, 404):
                missing.append(key)
        if missing:
            raise PermissionDeniedError(
                f"The Jira account cannot browse the project(s) {', '.join(missing)}.",
                hint="Give the integration's account 'Browse projects' (and, for write "
                "actions, 'Create issues', 'Transition issues', 'Add comments') there.",
            )

    async def detect_api_version(self) -> str:
        """REST API ``"3"`` on Jira Cloud, ``"2"`` on Server / Data Center."""
        info = await self._server_info()
        return "3" if info.get("deploymentType") == "Cloud" else "2"

    def _browse_base(self) -> str | None:
        base = (self.server_info or {}).get("baseUrl")
        return str(base).rstrip("/") if base else None

    # ---- streams ------------------------------------------------------------------------------

    async def streams(self) -> Sequence[Stream]:
        return [
            Projects(self.adapter),
            Users(self.adapter),
            Issues(
                self.adapter,
                projects=list(self.config.projects),
                jql=self.config.jql,
                browse_base=self._browse_base,
                checkpoint_every=self.config.checkpoint_every,
            ),
        ]

    # ---- write actions --------------------------------------------------------------------

    @action(description="Open a Jira issue; with dedupe_key at most one per key, ever.")
    async def create_issue(self, payload: CreateIssue) -> dict[str, Any]:
        adapter = await self.adapter()
        if payload.dedupe_key is None:
            opened = await self._create(adapter, payload, labels=payload.labels)
            return {**opened, "created": True}
        label = dedupe_label(payload.dedupe_key)
        memo_key = (self.config.base_url, payload.project_key, payload.dedupe_key)
        async with _lock_for(memo_key):
            existing = await self._existing(adapter, payload.project_key, label, memo_key)
            if existing is not None:
                self.logger.info("create_issue: %s already open for this key", existing["key"])
                return {**existing, "created": False, "dedupe_label": label}
            opened = await self._create(
                adapter, payload, labels=[*payload.labels, label],
                properties=[{"key": PROPERTY_KEY,
                             "value": {"dedupe_key": payload.dedupe_key}}],
            )
            _remember(memo_key, opened["key"])
            winner = await self._reconcile(adapter, payload.project_key, label, opened)
            if winner["key"] != opened["key"]:
                _remember(memo_key, winner["key"])
                return {**winner, "created": False, "dedupe_label": label}
            return {**opened, "created": True, "dedupe_label": label}

    async def _existing(
        self, adapter: JiraAdapter, project: str, label: str, memo_key: tuple[str, str, str]
    ) -> dict[str, Any] | None:
        found = await self._labelled(adapter, project, label)
        if found:
            return found[0]
        remembered = _OPENED.get(memo_key)
        if remembered is None:
            return None
        response = await self.http.request(
            "GET", adapter.path(f"issue/{remembered}"), params={"fields": "labels"},
            ok_statuses=(404,),
        )
        issue = _json(response) if response.status_code != 404 else {}
        if label not in ((issue.get("fields") or {}).get("labels") or []):
            _OPENED.pop(memo_key, None)  # deleted, or no longer marked as ours: open anew
            return None
        return self._ref(str(issue.get("id")), str(issue.get("key")))

    async def _labelled(
        self, adapter: JiraAdapter, project: str, label: str
    ) -> list[dict[str, Any]]:
        """Issues carrying ``label``, oldest first (the first is the one that counts)."""
        jql = f'project = "{project}" AND labels = "{label}" ORDER BY created ASC, key ASC'
        found = [self._ref(str(i.get("id")), str(i.get("key")))
                 async for i in adapter.search(jql, ["created"])]
        return sorted(found, key=lambda ref: int(ref["id"]) if ref["id"].isdigit() else 0)

    async def _reconcile(
        self, adapter: JiraAdapter, project: str, label: str, opened: dict[str, Any]
    ) -> dict[str, Any]:
        """Another agent may have opened one at the same time: the oldest wins, ours goes."""
        found = await self._labelled(adapter, project, label)
        ids = {ref["id"] for ref in found}
        if opened["id"] not in ids:
            found.append(opened)
            found.sort(key=lambda ref: int(ref["id"]) if ref["id"].isdigit() else 0)
        winner = found[0]
        if winner["key"] != opened["key"]:
            response = await self.http.request(
                "DELETE", adapter.path(f"issue/{opened['key']}"), ok_statuses=(403, 404)
            )
            if response.status_code == 403:
                self.logger.warning(
                    "create_issue: %s duplicates %s but may not be deleted (403)",
                    opened["key"], winner["key"],
                )
        return winner

    async def _create(
        self, adapter: JiraAdapter, payload: CreateIssue, *, labels: list[str],
        properties: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": payload.project_key},
            "summary": payload.summary,
            "issuetype": {"name": payload.issue_type},
            "labels": labels,
        }
        if payload.description:
            fields["description"] = adapter.body(payload.description)
        if payload.priority:
            fields["priority"] = {"name": payload.priority}
        body: dict[str, Any] = {"fields": fields}
        if properties:
            body["properties"] = properties
        response = await self.http.request(
            "POST", adapter.path("issue"), json=body, ok_statuses=(400,)
        )
        if response.status_code == 400:
            raise _refused("issue", response)
        created = _json(response)
        return self._ref(str(created.get("id")), str(created.get("key")))

    def _ref(self, issue_id: str, key: str) -> dict[str, Any]:
        base = self._browse_base()
        return {"id": issue_id, "key": key, "url": f"{base}/browse/{key}" if base else None}

    @action(description="Move a Jira issue to another status; a no-op if it is already there.")
    async def transition_issue(self, payload: TransitionIssue) -> dict[str, Any]:
        adapter = await self.adapter()
        issue = await self._issue(adapter, payload.issue_key, "status")
        current = str(((issue.get("fields") or {}).get("status") or {}).get("name", ""))
        wanted = payload.to.strip().lower()
        if current.lower() == wanted:
            return {"key": payload.issue_key, "status": current, "changed": False}
        listing = await self.http.get_json(adapter.path(f"issue/{payload.issue_key}/transitions"))
        transitions = listing.get("transitions") if isinstance(listing, dict) else None
        choice = next(
            (t for t in transitions or [] if wanted in (
                str(t.get("id", "")).lower(), str(t.get("name", "")).lower(),
                str((t.get("to") or {}).get("name", "")).lower())),
            None,
        )
        if choice is None:
            offered = ", ".join(f"{t.get('name')} ({t.get('id')})" for t in transitions or [])
            raise InvalidInputError(
                f"Issue {payload.issue_key} cannot move to {payload.to!r} from {current!r}; "
                f"available: {offered or 'none'}.",
                errors=[{"field": "to", "message": "not an available transition"}],
            )
        body: dict[str, Any] = {"transition": {"id": str(choice["id"])}}
        if payload.comment:
            body["update"] = {"comment": [{"add": {"body": adapter.body(payload.comment)}}]}
        response = await self.http.request(
            "POST", adapter.path(f"issue/{payload.issue_key}/transitions"), json=body,
            ok_statuses=(400,),
        )
        if response.status_code == 400:
            raise _refused("transition", response)
        status = str((choice.get("to") or {}).get("name") or choice.get("name"))
        return {"key": payload.issue_key, "status": status, "changed": True}

    @action(description="Comment on a Jira issue; with dedupe_key at most once per key.")
    async def add_comment(self, payload: AddComment) -> dict[str, Any]:
        adapter = await self.adapter()
        await self._issue(adapter, payload.issue_key, "summary")
        properties: list[dict[str, Any]] = []
        if payload.dedupe_key is not None:
            async with _lock_for((self.config.base_url, payload.issue_key, payload.dedupe_key)):
                found = await self._comment_with_key(adapter, payload.issue_key,
                                                     payload.dedupe_key)
                if found is not None:
                    return {"id": found, "key": payload.issue_key, "created": False}
                properties = [{"key": PROPERTY_KEY, "value": {"dedupe_key": payload.dedupe_key}}]
                return await self._post_comment(adapter, payload, properties)
        return await self._post_comment(adapter, payload, properties)

    async def _post_comment(
        self, adapter: JiraAdapter, payload: AddComment, properties: list[dict[str, Any]]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"body": adapter.body(payload.body)}
        if properties:
            body["properties"] = properties
        response = await self.http.request(
            "POST", adapter.path(f"issue/{payload.issue_key}/comment"), json=body,
            ok_statuses=(400,),
        )
        if response.status_code == 400:
            raise _refused("comment", response)
        return {"id": str(_json(response).get("id")), "key": payload.issue_key, "created": True}

    async def _comment_with_key(self, adapter: JiraAdapter, issue_key: str, key: str) -> str | None:
        start = 0
        while True:
            page = await self.http.get_json(
                adapter.path(f"issue/{issue_key}/comment"),
                params={"startAt": start, "maxResults": 100, "expand": "properties"},
            )
            comments = page.get("comments") if isinstance(page, dict) else None
            if not comments:
                return None
            for comment in comments:
                for prop in comment.get("properties") or []:
                    value = prop.get("value") if isinstance(prop, dict) else None
                    if prop.get("key") == PROPERTY_KEY and isinstance(value, dict) and \
                            value.get("dedupe_key") == key:
                        return str(comment.get("id"))
            start += len(comments)
            if start >= int(page.get("total", 0)):
                return None

    async def _issue(self, adapter: JiraAdapter, key: str, fields: str) -> dict[str, Any]:
        response = await self.http.request(
            "GET", adapter.path(f"issue/{key}"), params={"fields": fields}, ok_statuses=(404,)
        )
        if response.status_code == 404:
            raise InvalidInputError(
                f"Jira has no issue {key} that the integration's account may see.",
                errors=[{"field": "issue_key", "message": "not found"}],
            )
        issue = _json(response)
        return issue if isinstance(issue, dict) else {}

    # ---- webhooks ---------------------------------------------------------------------------

    async def verify_webhook(self, request: WebhookRequest) -> None:
        """``X-Hub-Signature: sha256=<HMAC-SHA256(secret, body)>`` (Jira webhooks with a
        secret); without a configured secret every delivery is refused."""
        secret = self.config.webhook_secret
        if secret is None or not secret.get_secret_value():
            raise WebhookVerificationError(
                "No webhook secret is configured for this Jira instance; deliveries are refused."
            )
        verify_hmac_signature(secret.get_secret_value(), request.body,
                              request.header("X-Hub-Signature"), prefix="sha256=")

    async def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise InvalidInputError("The Jira webhook body is not JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("webhookEvent"), str):
            raise InvalidInputError("The Jira webhook body has no webhookEvent.")
        issue = data.get("issue") or {}
        fields = issue.get("fields") or {}
        stamp = data.get("timestamp")
        occurred = (
            datetime.fromtimestamp(stamp / 1000, UTC).isoformat()
            if isinstance(stamp, int | float) else None
        )
        event = data["webhookEvent"].removeprefix("jira:")
        return [WebhookEvent(
            type=f"jira.{event}",
            payload={
                "event": data["webhookEvent"],
                "issue_id": issue.get("id"),
                "issue_key": issue.get("key"),
                "status": (fields.get("status") or {}).get("name"),
                "project": (fields.get("project") or {}).get("key"),
                "labels": fields.get("labels"),
                "user": (data.get("user") or {}).get("displayName"),
                "changelog": (data.get("changelog") or {}).get("items"),
            },
            id=request.header("X-Atlassian-Webhook-Identifier"),
            occurred_at=occurred,
        )]

    @classmethod
    def default_mappings(cls) -> list[dict[str, Any]]:
        return default_mappings()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DataError(f"Jira answered {response.url.path} with a non-JSON body.") from None


def _refused(what: str, response: httpx.Response) -> InvalidInputError:
    """A 400 with Jira's ``errorMessages`` / ``errors``: name the fields, keep Jira's words
    in ``errors`` (they describe our input, never a secret)."""
    try:
        body = response.json()
    except ValueError:
        return InvalidInputError(str(error_for_response(response)))
    field_errors = body.get("errors") if isinstance(body, dict) else None
    messages = body.get("errorMessages") if isinstance(body, dict) else None
    errors = [{"field": str(k), "message": str(v)[:300]}
              for k, v in (field_errors or {}).items()]
    errors += [{"field": "(request)", "message": str(m)[:300]} for m in messages or []]
    named = ", ".join(e["field"] for e in errors) or "unknown"
    return InvalidInputError(f"Jira refused the {what} (400): invalid {named}.", errors=errors)


def default_mappings() -> list[dict[str, Any]]:
    """The default MappingSpec JSON of each stream (``mappings/*.json``)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(MAPPINGS_DIR.glob("*.json"))]
