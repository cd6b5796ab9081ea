"""The Connector base class: check, discover, read with state, write, webhooks, versions."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from connectors.sdk import (
    AuthMethod,
    CheckName,
    CheckStatus,
    Connector,
    ConnectorContext,
    ConnectorMetadata,
    HttpClient,
    RecordMessage,
    RetryPolicy,
    StateMessage,
    Stream,
    SyncMode,
    SystemType,
    WebhookEvent,
    WebhookRequest,
    action,
    public_config,
    secret_field,
    verify_hmac_signature,
)
from connectors.sdk import errors as e
from connectors.sdk.streams import cursor_sort_key

from .servers import Reply, Seen, serve

TOKEN = "acme-token-S3CRET"


class AcmeConfig(BaseModel):
    base_url: str
    api_token: SecretStr = secret_field(description="Acme API token")
    webhook_secret: SecretStr | None = secret_field(None)


class Bearer(httpx.Auth):
    """Stands in for the auth layer's provider."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class Users(Stream):
    name = "users"
    json_schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}},
        "required": ["id"],
    }
    primary_key = ("id",)
    cursor_field = "updated_at"

    def __init__(self, http: HttpClient, sorted_: bool = False) -> None:
        self.http = http
        self.is_sorted = sorted_
        self.checkpoint_interval = 2

    async def read_records(self, cursor: Any | None) -> AsyncIterator[dict[str, Any]]:
        params = {"since": cursor} if cursor else {}
        async for page in self.http.paginate("/users", params=params):
            for record in page.records:
                yield record


class TicketIn(BaseModel):
    title: str
    priority: Literal["low", "high"] = "low"


class Acme(Connector[AcmeConfig]):
    metadata = ConnectorMetadata(
        key="acme",
        name="Acme",
        version="1.2.0",
        system_type=SystemType.ITSM,
        auth_methods=(AuthMethod.BEARER,),
        api_versions=("3", "4"),
    )
    config_model = AcmeConfig
    api_adapters = {"3": lambda c: "adapter-v3", "4": lambda c: "adapter-v4"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = self.http_client(self.config.base_url)

    async def check_connection(self) -> None:
        self.logger.info("checking with token %s", self.config.api_token.get_secret_value())
        await self.http.get("/me")

    async def detect_api_version(self) -> str | None:
        return str((await self.http.get_json("/version"))["version"])

    async def streams(self) -> list[Stream]:
        return [Users(self.http, sorted_=bool(self.context.options.get("sorted")))]

    @action(description="Open a ticket")
    async def create_ticket(self, payload: TicketIn) -> dict[str, Any]:
        response = await self.http.post("/tickets", json=payload.model_dump())
        return {"id": response.json()["id"]}

    async def verify_webhook(self, request: WebhookRequest) -> None:
        secret = self.config.webhook_secret
        verify_hmac_signature(
            secret.get_secret_value() if secret else "",
            request.body,
            request.header("X-Hub-Signature-256"),
            prefix="sha256=",
        )

    async def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        body = json.loads(request.body)
        return [WebhookEvent(type=body["action"], payload=body, id=request.header("X-Id"))]


class FakeApi:
    """Acme's API: users filtered inclusively by ``since`` (>=), ordered by updated_at."""

    def __init__(self) -> None:
        self.users = [
            {"id": i, "updated_at": f"2024-01-0{d}T00:00:00Z"}
            for i, d in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4)]
        ]
        self.version = "4.2.1"
        self.me_status = 200

    def __call__(self, r: Seen) -> Reply:
        if r.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"detail": "bad token"})
        if r.path == "/me":
            return Reply(self.me_status, {"name": "svc"})
        if r.path == "/version":
            return Reply(200, {"version": self.version})
        if r.path == "/users":
            since = r.query.get("since", "")
            return Reply(200, [u for u in self.users if u["updated_at"] >= since])
        if r.path == "/tickets":
            return Reply(201, {"id": 77, "got": json.loads(r.body)})
        return Reply(404, {})


CTX = ConnectorContext(allow_loopback=True, retry=RetryPolicy(max_attempts=2, backoff_base=0))


def _acme(url: str, token: str = TOKEN, **ctx: Any) -> Acme:
    context = ConnectorContext(allow_loopback=True, retry=CTX.retry, **ctx)
    config = {"base_url": url, "api_token": token, "webhook_secret": "hook-secret"}
    return Acme(config, credentials=Bearer(token), context=context)


async def test_check_passes_every_step_and_detects_version():
    with serve(FakeApi()) as server:
        async with _acme(server.url) as acme:
            result = await acme.check()
    assert result.ok
    assert [i.status for i in result.items] == [CheckStatus.PASSED] * 4
    assert result.server_api_version == "4.2.1"
    assert result.latency_ms is not None
    assert result.latency_ms >= 0
    assert acme.api_adapter == "adapter-v4"
    assert result.to_dict()["ok"] is True


@pytest.mark.parametrize(
    ("setup", "failed_at", "action"),
    [
        ("bad_token", CheckName.AUTHENTICATED, e.ErrorAction.REFRESH),
        ("forbidden", CheckName.PERMISSIONS, e.ErrorAction.FAIL),
        ("unreachable", CheckName.REACHABLE, e.ErrorAction.RETRY),
        ("old_version", CheckName.API_VERSION, e.ErrorAction.FAIL),
    ],
)
async def test_check_failures_name_the_step_with_cause_and_hint(setup, failed_at, action):
    api = FakeApi()
    token = "wrong-token-XYZ" if setup == "bad_token" else TOKEN
    api.me_status = 403 if setup == "forbidden" else 200
    api.version = "5.0" if setup == "old_version" else "4.2.1"
    with serve(api) as server:
        url = "http://127.0.0.1:9" if setup == "unreachable" else server.url
        async with _acme(url, token) as acme:
            result = await acme.check()
    assert not result.ok
    assert result.error_action is action
    (failed,) = result.failures
    assert failed.name is failed_at
    assert failed.cause
    assert failed.hint
    order = list(CheckName)
    after = [i for i in result.items if order.index(i.name) > order.index(failed_at)]
    assert all(i.status is CheckStatus.SKIPPED for i in after)
    assert "wrong-token-XYZ" not in json.dumps(result.to_dict())
    if setup == "old_version":
        assert "'5.0'" in failed.cause
        assert "3, 4" in failed.cause


async def test_read_incremental_resumes_without_duplicates_or_losses():
    api = FakeApi()
    with serve(api) as server:
        async with _acme(server.url) as acme:
            first = [m async for m in acme.read("users")]
            records = [m.data["id"] for m in first if isinstance(m, RecordMessage)]
            assert records == [1, 2, 3, 4, 5]
            assert isinstance(first[-1], StateMessage)
            state = json.loads(json.dumps(first[-1].state))  # what the engine persists
            assert state["cursor"] == "2024-01-04T00:00:00Z"

            # A record sharing the boundary timestamp, and a newer one, appear.
            api.users += [
                {"id": 6, "updated_at": "2024-01-04T00:00:00Z"},
                {"id": 7, "updated_at": "2024-01-05T00:00:00Z"},
            ]
            second = [m async for m in acme.read("users", state)]
            assert [m.data["id"] for m in second if isinstance(m, RecordMessage)] == [6, 7]
            assert server.seen[-1].query["since"] == "2024-01-04T00:00:00Z"

            third = [m async for m in acme.read("users", second[-1].state)]
            assert [m for m in third if isinstance(m, RecordMessage)] == []
            assert third[-1].state == second[-1].state

            full = [m async for m in acme.read("users", state, sync_mode=SyncMode.FULL_REFRESH)]
            assert len([m for m in full if isinstance(m, RecordMessage)]) == 7


async def test_sorted_streams_checkpoint_mid_stream():
    with serve(FakeApi()) as server:
        async with _acme(server.url, options={"sorted": True}) as acme:
            messages = [m async for m in acme.read("users")]
    kinds = [type(m).__name__[0] for m in messages]
    assert kinds == ["R", "R", "S", "R", "R", "S", "R", "S"]
    assert messages[2].state["cursor"] == "2024-01-02T00:00:00Z"


async def test_discover_and_unknown_stream():
    with serve(FakeApi()) as server:
        async with _acme(server.url) as acme:
            (users,) = await acme.discover()
            assert users.name == "users"
            assert users.sync_modes == (SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL)
            assert users.to_dict()["primary_key"] == ["id"]
            with pytest.raises(e.ConfigError) as info:
                [m async for m in acme.read("groups")]
            assert "users" in str(info.value)


async def test_write_validates_input_and_runs_action():
    with serve(FakeApi()) as server:
        async with _acme(server.url) as acme:
            result = await acme.write("create_ticket", {"title": "Patch", "priority": "high"})
            assert result.output == {"id": 77}
            assert json.loads(server.seen[-1].body) == {"title": "Patch", "priority": "high"}
            with pytest.raises(e.InvalidInputError) as info:
                await acme.write("create_ticket", {"priority": "urgent"})
            fields = {i["field"] for i in info.value.errors}
            assert fields == {"title", "priority"}
            assert "urgent" not in str(info.value)
            with pytest.raises(e.NotSupportedError):
                await acme.write("delete_everything", {})
    caps = Acme.capabilities()
    assert caps["write"] is True
    assert caps["actions"][0]["input_schema"]["required"] == ["title"]
    assert caps["webhooks"] is True


async def test_webhook_verify_then_parse():
    acme = _acme("http://127.0.0.1:9")
    body = b'{"action": "ticket.closed", "id": 1}'
    good = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    events = await acme.handle_webhook(
        WebhookRequest(body=body, headers={"x-hub-signature-256": good, "X-Id": "d1"})
    )
    assert events == [WebhookEvent("ticket.closed", json.loads(body), id="d1")]
    with pytest.raises(e.WebhookVerificationError):
        await acme.handle_webhook(
            WebhookRequest(body=body + b" ", headers={"X-Hub-Signature-256": good})
        )
    with pytest.raises(e.WebhookVerificationError):
        await acme.handle_webhook(WebhookRequest(body=body))
    await acme.aclose()


def test_config_errors_name_fields_and_never_values():
    with pytest.raises(e.ConfigError) as info:
        Acme({"api_token": 12345678}, context=CTX)
    assert "base_url" in str(info.value)
    assert "12345678" not in str(info.value)
    assert info.value.issues[0]["field"] == "base_url"
    schema = Acme.config_schema()
    assert schema["properties"]["api_token"]["writeOnly"] is True
    assert schema["properties"]["api_token"]["format"] == "password"
    config = AcmeConfig(base_url="https://x", api_token=SecretStr(TOKEN))
    assert public_config(config) == {"base_url": "https://x"}
    assert TOKEN not in repr(config)


async def test_logger_redacts_secrets(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    with serve(FakeApi()) as server:
        async with _acme(server.url) as acme:
            await acme.check()
    assert "checking with token ***" in caplog.text
    assert TOKEN not in caplog.text


def test_metadata_is_validated():
    with pytest.raises(ValidationError) as info:
        ConnectorMetadata(key="Acme X", name="A", version="1.0", system_type="Nope")
    text = str(info.value)
    assert "key" in text
    assert "version" in text
    assert "system_type" in text
    described = Acme.describe()
    assert described["system_type"] == "ITSM"
    assert described["auth_methods"] == ["bearer"]
    assert described["capabilities"]["api_versions"] == ["3", "4"]


def test_cursor_order_understands_timestamps_and_numbers():
    assert cursor_sort_key("2024-01-04T00:00:00Z") == cursor_sort_key("2024-01-04T00:00:00+00:00")
    assert cursor_sort_key("2024-01-04T01:00:00+02:00") < cursor_sort_key("2024-01-04T00:00:00Z")
    assert cursor_sort_key(9) < cursor_sort_key(10)
    assert cursor_sort_key("2024-01-04") < cursor_sort_key("2024-01-04T00:00:01")


class RawHttpx(Acme):
    """An author who calls httpx directly: its errors are still classified by check()."""

    async def check_connection(self) -> None:
        async with httpx.AsyncClient() as raw:
            await raw.get("http://127.0.0.1:9/")


async def test_raw_httpx_errors_in_author_code_are_classified():
    result = await _acme_cls(RawHttpx).check()
    assert result.failures[0].name is CheckName.REACHABLE
    assert result.details["error"]["type"] == "NetworkError"


def _acme_cls(cls: type[Acme]) -> Acme:
    return cls({"base_url": "http://127.0.0.1:9", "api_token": TOKEN}, context=CTX)


async def test_instance_token_bucket_is_shared_by_its_clients():
    context = ConnectorContext(allow_loopback=True, rate_limit_per_second=20, rate_limit_burst=1)
    assert context.rate_limiter is context.rate_limiter
    with serve(FakeApi()) as server:
        acme = Acme({"base_url": server.url, "api_token": TOKEN}, credentials=Bearer(TOKEN),
                    context=context)
        other = acme.http_client(server.url, auth=Bearer(TOKEN))
        started = time.monotonic()
        for client in (acme.http, other, acme.http, other, acme.http):
            await client.get("/me")
        assert time.monotonic() - started >= 0.18
        await acme.aclose()
    assert context.metrics.requests == 5
