"""GitHub (Security / DevOps): members and 2FA, repositories, branch protection, Dependabot
and code scanning alerts, workflow runs; signed webhooks.

Every request sends ``Accept: application/vnd.github+json`` and the configured
``X-GitHub-Api-Version`` (default ``2022-11-28``); lists follow ``Link`` headers; GitHub's
primary and secondary rate limits are waited out (see :mod:`.ratelimit`). Credentials: a
personal access token (``bearer``), an OAuth / GitHub App user token
(``oauth2_authorization_code``) or a GitHub App installation (``jwt_bearer``, see
:mod:`.auth` and :meth:`GitHubConnector.build_credentials`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.builtin.github.auth import build_credentials
from connectors.builtin.github.ratelimit import GitHubRateLimitTransport
from connectors.builtin.github.streams import (
    BranchProtection,
    CodeScanningAlerts,
    DependabotAlerts,
    GitHubApi,
    Members,
    Repositories,
    WorkflowRuns,
)
from connectors.sdk.auth.tokens import TokenStore
from connectors.sdk.connector import Connector
from connectors.sdk.errors import (
    ConfigError,
    InvalidInputError,
    PermissionDeniedError,
    WebhookVerificationError,
)
from connectors.sdk.fields import secret_field
from connectors.sdk.http import HttpClient
from connectors.sdk.http.guard import guarded_transport
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.streams import Stream
from connectors.sdk.webhooks import WebhookEvent, WebhookRequest, verify_hmac_signature

__all__ = ["SUPPORTED_API_VERSIONS", "GitHubConfig", "GitHubConnector", "default_mappings"]

SUPPORTED_API_VERSIONS = ("2022-11-28", "2026-03-10")
MAPPINGS_DIR = Path(__file__).parent / "mappings"
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
#: Webhook events turned into connector events; others are accepted and ignored.
WEBHOOK_EVENTS = frozenset({
    "push", "pull_request", "workflow_run", "dependabot_alert", "code_scanning_alert",
    "secret_scanning_alert", "repository_vulnerability_alert", "branch_protection_rule",
    "member", "membership", "organization", "repository", "ping",
})


class GitHubConfig(BaseModel):
    """Configuration of a GitHub instance."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str = Field(
        "https://api.github.com",
        description="API root: https://api.github.com, or https://HOST/api/v3 for GitHub "
        "Enterprise Server.",
    )
    organization: str = Field(description="Organisation login, e.g. 'acme-corp'.")
    repositories: list[str] = Field(
        default_factory=list,
        description="Only these repositories (names without the owner); empty: all.",
    )
    include_archived: bool = Field(False, description="Also read archived repositories.")
    page_size: int = Field(100, ge=1, le=100, description="Items per page (GitHub max 100).")
    workflow_runs_initial_days: int = Field(
        30, ge=1, le=400, description="How far back the first read of workflow runs goes."
    )
    workflow_runs_lookback_hours: int = Field(
        72, ge=0, le=720,
        description="Runs created this long before the last read are re-checked for updates.",
    )
    api_version: str = Field(
        "2022-11-28", description="REST API version sent as X-GitHub-Api-Version."
    )
    webhook_secret: SecretStr | None = secret_field(
        None, description="Secret of the organisation's webhook (verifies X-Hub-Signature-256)."
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("organization")
    @classmethod
    def _org(cls, value: str) -> str:
        if not _LOGIN.match(value):
            raise ValueError("must be a GitHub organisation login (letters, digits, '-')")
        return value

    @field_validator("repositories")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _REPO.match(v)]
        if bad:
            raise ValueError(f"not repository names: {', '.join(bad[:3])} (give names, not URLs)")
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in SUPPORTED_API_VERSIONS:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_API_VERSIONS)}")
        return value


class GitHubConnector(Connector[GitHubConfig]):
    """The built-in GitHub connector."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="github",
        name="GitHub",
        description="Organisation members and 2FA, repositories, branch protection, Dependabot "
        "and code scanning alerts, and GitHub Actions runs; signed webhooks.",
        version="1.0.0",
        system_type=SystemType.SECURITY,
        vendor="GitHub",
        author="SimpleTrust",
        documentation_url="https://docs.github.com/rest",
        auth_methods=(
            AuthMethod.BEARER,
            AuthMethod.OAUTH2_AUTHORIZATION_CODE,
            AuthMethod.JWT_BEARER,
        ),
        api_versions=SUPPORTED_API_VERSIONS,
    )
    config_model: ClassVar[type[BaseModel]] = GitHubConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http: HttpClient | None = None
        self._selected_version: str | None = None

    # ---- credentials and HTTP ----------------------------------------------------------------

    @classmethod
    def build_credentials(
        cls, auth_type: str, fields: Mapping[str, Any], *, token_store: TokenStore | None = None
    ) -> httpx.Auth:
        """GitHub App auth for ``jwt_bearer`` fields, the SDK's ``build_auth`` otherwise."""
        return build_credentials(auth_type, fields, token_store=token_store)

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            config = self.config
            inner = guarded_transport(
                self.context.address_policy,
                inner=self.context.transport,
                verify=self.context.verify_tls,
            )
            self._http = HttpClient(
                config.base_url,
                auth=self.auth,
                policy=self.context.address_policy,
                timeout=self.context.http_timeout,
                retry=self.context.retry,
                rate_limiter=self.context.rate_limiter,
                metrics=self.context.metrics,
                transport=GitHubRateLimitTransport(inner),
                verify=self.context.verify_tls,
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": config.api_version,
                },
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await super().aclose()

    def _api(self) -> GitHubApi:
        return GitHubApi(self.http, self.config)

    # ---- check ------------------------------------------------------------------------------

    async def check_connection(self) -> None:
        org = self.config.organization
        response = await self.http.request("GET", f"/orgs/{org}", ok_statuses=(404,))
        if response.status_code == 404:
            raise ConfigError(
                f"GitHub has no organisation {org!r} visible to these credentials (404).",
                hint="Check the organisation login, and that the token (or app installation) "
                "has access to it.",
            )
        self._selected_version = response.headers.get("x-github-api-version-selected")

    async def check_permissions(self) -> None:
        org = self.config.organization
        needed = [
            (f"/orgs/{org}/members", "read organisation members ('Members: read' / read:org)"),
            (f"/orgs/{org}/repos", "list repositories ('Metadata: read' / repo)"),
        ]
        for path, what in needed:
            response = await self.http.request(
                "GET", path, params={"per_page": 1}, ok_statuses=(403, 404)
            )
            if response.status_code in (403, 404):
                raise PermissionDeniedError(
                    f"The credentials cannot {what} ({response.status_code} on {path}).",
                    hint="Grant the permissions listed in the GitHub connector's documentation.",
                )

    async def detect_api_version(self) -> str | None:
        """The version GitHub says it served (``X-GitHub-Api-Version-Selected``)."""
        return self._selected_version or self.config.api_version

    # ---- streams ------------------------------------------------------------------------------

    async def streams(self) -> Sequence[Stream]:
        api = self._api()
        return [
            Members(api),
            Repositories(api),
            BranchProtection(api),
            DependabotAlerts(api),
            CodeScanningAlerts(api),
            WorkflowRuns(api),
        ]

    # ---- webhooks -----------------------------------------------------------------------------

    async def verify_webhook(self, request: WebhookRequest) -> None:
        """``X-Hub-Signature-256`` = ``sha256=`` HMAC-SHA256(secret, raw body), compared in
        constant time. Without a configured secret every delivery is refused."""
        secret = self.config.webhook_secret
        if secret is None or not secret.get_secret_value():
            raise WebhookVerificationError(
                "No webhook secret is configured for this GitHub instance; deliveries are "
                "refused.",
                hint="Set the same secret on the GitHub webhook and in this instance's "
                "configuration.",
            )
        verify_hmac_signature(
            secret.get_secret_value(),
            request.body,
            request.header("X-Hub-Signature-256"),
            prefix="sha256=",
        )

    async def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        event = request.header("X-GitHub-Event")
        if not event:
            raise InvalidInputError("The delivery has no X-GitHub-Event header.")
        payload = _webhook_body(request)
        if event not in WEBHOOK_EVENTS:
            self.logger.info("webhook event %s ignored", event)
            return []
        action = payload.get("action")
        repository = payload.get("repository") or {}
        sender = payload.get("sender") or {}
        summary: dict[str, Any] = {
            "event": event,
            "action": action,
            "delivery": request.header("X-GitHub-Delivery"),
            "organization": (payload.get("organization") or {}).get("login"),
            "repository": repository.get("full_name"),
            "sender": sender.get("login"),
        }
        obj_key = {
            "pull_request": "pull_request",
            "workflow_run": "workflow_run",
            "dependabot_alert": "alert",
            "code_scanning_alert": "alert",
            "secret_scanning_alert": "alert",
            "repository_vulnerability_alert": "alert",
            "branch_protection_rule": "rule",
            "member": "member",
            "membership": "member",
        }.get(event)
        obj = payload.get(obj_key) if obj_key else None
        if event == "push":
            summary.update(ref=payload.get("ref"), before=payload.get("before"),
                           after=payload.get("after"), forced=payload.get("forced"),
                           commits=len(payload.get("commits") or []))
            obj = payload.get("head_commit")
        summary["object"] = obj
        kind = f"github.{event}" + (f".{action}" if isinstance(action, str) and action else "")
        return [WebhookEvent(
            type=kind,
            payload=summary,
            id=request.header("X-GitHub-Delivery"),
            occurred_at=_occurred_at(event, obj, request.received_at),
        )]

    @classmethod
    def default_mappings(cls) -> list[dict[str, Any]]:
        return default_mappings()


def _webhook_body(request: WebhookRequest) -> dict[str, Any]:
    """JSON, or the ``payload=`` form field GitHub sends for form-encoded webhooks."""
    content_type = (request.header("Content-Type") or "").lower()
    raw: bytes | str = request.body
    if content_type.startswith("application/x-www-form-urlencoded"):
        raw = (parse_qs(request.body.decode("utf-8", "replace")).get("payload") or [""])[0]
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidInputError("The webhook delivery's body is not JSON.") from None
    if not isinstance(data, dict):
        raise InvalidInputError("The webhook delivery's body is not a JSON object.")
    return data


def _occurred_at(event: str, obj: Any, received_at: float) -> str:
    if isinstance(obj, Mapping):
        for key in ("updated_at", "timestamp", "created_at"):
            value = obj.get(key)
            if isinstance(value, str) and value:
                return value
    return datetime.fromtimestamp(received_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_mappings() -> list[dict[str, Any]]:
    """The default MappingSpec JSON of each stream (``mappings/*.json``)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(MAPPINGS_DIR.glob("*.json"))]
