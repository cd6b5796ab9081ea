"""Splunk (SIEM, bi-directional): saved searches, notable events and configured searches in
(streamed from the export endpoint); compliance events out through the HTTP Event Collector.

Credentials for the REST API (management port, 8089 by default): an authentication token
(``bearer``) or a user and password (``basic``). The HEC token is separate (HEC listens on
its own port, 8088 by default) and lives in the configuration as a secret field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.builtin.splunk.export import SplunkExporter
from connectors.builtin.splunk.streams import NotableEvents, SavedSearches, SearchResults
from connectors.sdk.actions import action
from connectors.sdk.auth import ApiKeyAuth
from connectors.sdk.connector import Connector
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigError,
    DataError,
    InvalidInputError,
    PermissionDeniedError,
    RemoteServerError,
)
from connectors.sdk.fields import secret_field
from connectors.sdk.http import HttpClient
from connectors.sdk.metadata import AuthMethod, ConnectorMetadata, SystemType
from connectors.sdk.redact import register_secret
from connectors.sdk.streams import Stream

__all__ = ["SearchConfig", "SendEvent", "SplunkConfig", "SplunkConnector", "default_mappings"]

MAPPINGS_DIR = Path(__file__).parent / "mappings"
_STREAM_NAME = r"^[a-z][a-z0-9_]{0,59}$"
_TIME_MODIFIER = re.compile(r"^(now|0|[+-]\d+(s|m|h|d|w|mon)(@(s|m|h|d|w|mon))?|\d+(\.\d+)?)$")
#: HEC answer codes: what they mean for the caller.
_HEC_AUTH = {1: "token disabled", 2: "token required", 3: "invalid authorization",
             4: "invalid token"}
_HEC_INPUT = {5: "no data", 6: "invalid data format", 7: "incorrect index",
              12: "event field is required", 13: "event field cannot be blank"}


def _time_modifier(value: str) -> str:
    if not _TIME_MODIFIER.match(value.strip()):
        raise ValueError("must be a Splunk time modifier like -24h, -7d@d, now or epoch seconds")
    return value.strip()


class SearchConfig(BaseModel):
    """One search stream: ad-hoc ``spl`` or a ``saved_search`` by name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=_STREAM_NAME, description="Stream name, e.g. 'failed_logins'.")
    spl: str | None = Field(None, description="SPL, e.g. 'search index=main action=failure'.")
    saved_search: str | None = Field(None, description="Name of a saved search to run.")
    initial_earliest: str = Field("-24h", description="How far back the first read goes.")
    primary_key: list[str] = Field(
        default_factory=list, description="Result fields that identify a result, if any."
    )

    _earliest = field_validator("initial_earliest")(_time_modifier)

    @model_validator(mode="after")
    def _one_source(self) -> SearchConfig:
        if (self.spl is None) == (self.saved_search is None):
            raise ValueError("give exactly one of spl and saved_search")
        return self

    def query(self) -> str:
        if self.saved_search is not None:
            return f'| savedsearch "{self.saved_search.replace(chr(34), "")}"'
        spl = str(self.spl)
        return spl if spl.startswith(("|", "search ")) else f"search {spl}"


class SplunkConfig(BaseModel):
    """Configuration of a Splunk instance."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str = Field(description="Management (REST) URL, e.g. https://splunk:8089.")
    searches: list[SearchConfig] = Field(
        default_factory=list, description="Search streams (saved searches or ad-hoc SPL)."
    )
    notable_events: bool = Field(
        True, description="Read Enterprise Security notable events (needs Splunk ES)."
    )
    notable_index: str = Field("notable", pattern=r"^[a-z0-9_-]+$")
    initial_earliest: str = Field("-7d", description="How far back notable events go at first.")
    page_size: int = Field(100, ge=1, le=1000, description="Saved searches per request.")
    hec_url: str | None = Field(
        None, description="HTTP Event Collector URL, e.g. https://splunk:8088 (default: the "
        "management URL)."
    )
    hec_token: SecretStr | None = secret_field(
        None, description="HEC token for send_event."
    )
    hec_index: str | None = Field(None, description="Index for sent events (default: token's).")
    hec_sourcetype: str = Field("simpletrust:compliance")
    hec_source: str = Field("simpletrust")

    _earliest = field_validator("initial_earliest")(_time_modifier)

    @field_validator("base_url", "hec_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _unique(self) -> SplunkConfig:
        names = [s.name for s in self.searches]
        reserved = {"saved_searches", "notable_events"}
        clash = sorted({n for n in names if names.count(n) > 1 or n in reserved})
        if clash:
            raise ValueError(f"search names must be unique and not reserved: {', '.join(clash)}")
        return self


class SendEvent(BaseModel):
    """An event for the HTTP Event Collector (a JSON object or a text)."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | str
    time: datetime | float | None = Field(None, description="Event time (default: now).")
    host: str | None = None
    source: str | None = None
    sourcetype: str | None = None
    index: str | None = None
    fields: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Indexed fields."
    )

    @field_validator("event")
    @classmethod
    def _not_blank(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        if value in ("", {}):
            raise ValueError("must not be blank")
        return value


class SplunkConnector(Connector[SplunkConfig]):
    """The built-in Splunk connector."""

    metadata: ClassVar[ConnectorMetadata] = ConnectorMetadata(
        key="splunk",
        name="Splunk",
        description="Saved searches, ES notable events and configured searches streamed from "
        "the export endpoint; compliance events sent back through the HTTP Event Collector.",
        version="1.0.0",
        system_type=SystemType.SIEM,
        vendor="Splunk",
        author="SimpleTrust",
        documentation_url="https://docs.splunk.com/Documentation/Splunk/latest/RESTREF",
        auth_methods=(AuthMethod.BEARER, AuthMethod.BASIC),
        api_versions=("8", "9", "10"),
    )
    config_model: ClassVar[type[BaseModel]] = SplunkConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http: HttpClient | None = None
        self._hec: HttpClient | None = None
        self._exporter: SplunkExporter | None = None
        self._version: str | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = self.http_client(self.config.base_url)
        return self._http

    @property
    def exporter(self) -> SplunkExporter:
        if self._exporter is None:
            self._exporter = SplunkExporter(self.config.base_url, self.auth, self.context)
        return self._exporter

    def hec(self) -> HttpClient:
        token = self.config.hec_token
        if token is None or not token.get_secret_value():
            raise ConfigError(
                "send_event needs an HTTP Event Collector token (hec_token).",
                hint="Create a HEC token in Splunk (Settings > Data inputs > HTTP Event "
                "Collector) and enter it in the instance's configuration.",
                issues=[{"field": "hec_token", "message": "required for send_event"}],
            )
        if self._hec is None:
            register_secret(token.get_secret_value())
            auth = ApiKeyAuth(token.get_secret_value(), name="Authorization", prefix="Splunk ")
            self._hec = self.http_client(self.config.hec_url or self.config.base_url, auth=auth)
        return self._hec

    async def aclose(self) -> None:
        if self._exporter is not None:
            await self._exporter.aclose()
            self._exporter = None
        await super().aclose()

    # ---- check ------------------------------------------------------------------------------

    async def check_connection(self) -> None:
        body = await self.http.get_json("/services/server/info",
                                        params={"output_mode": "json"})
        try:
            self._version = str(body["entry"][0]["content"]["version"])
        except (KeyError, IndexError, TypeError):
            raise DataError("Splunk's server info has no version; is this a Splunk "
                            "management URL (port 8089)?") from None

    async def check_permissions(self) -> None:
        response = await self.http.request(
            "GET", "/servicesNS/-/-/saved/searches",
            params={"output_mode": "json", "count": 1}, ok_statuses=(403,),
        )
        if response.status_code == 403:
            raise PermissionDeniedError(
                "The Splunk account may not list saved searches (403).",
                hint="Give the account a role with the 'search' capability and read access "
                "to the apps and indexes this instance reads.",
            )
        if self.config.hec_token is not None:
            health = await self.hec().request("GET", "/services/collector/health",
                                              ok_statuses=(400, 503))
            if health.status_code != 200:
                raise RemoteServerError(
                    f"The HTTP Event Collector is not healthy ({health.status_code}).",
                    status_code=health.status_code,
                    hint="Enable HEC (Global Settings) and check the hec_url port (8088).",
                )

    async def detect_api_version(self) -> str | None:
        """The Splunk version (``/services/server/info``), e.g. ``9.3.1``."""
        if self._version is None:
            await self.check_connection()
        return self._version

    # ---- streams ------------------------------------------------------------------------------

    async def streams(self) -> Sequence[Stream]:
        config = self.config
        streams: list[Stream] = [SavedSearches(self.http, config.page_size)]
        if config.notable_events:
            streams.append(NotableEvents(self.exporter, index=config.notable_index,
                                         initial_earliest=config.initial_earliest))
        for search in config.searches:
            streams.append(SearchResults(
                self.exporter,
                name=search.name,
                spl=search.query(),
                initial_earliest=search.initial_earliest,
                primary_key=tuple(search.primary_key),
            ))
        return streams

    # ---- write action -------------------------------------------------------------------------

    @action(description="Send a compliance event to Splunk through the HTTP Event Collector.")
    async def send_event(self, payload: SendEvent) -> dict[str, Any]:
        config = self.config
        event: dict[str, Any] = {
            "event": payload.event,
            "source": payload.source or config.hec_source,
            "sourcetype": payload.sourcetype or config.hec_sourcetype,
        }
        if payload.time is not None:
            event["time"] = (payload.time.timestamp() if isinstance(payload.time, datetime)
                             else payload.time)
        if payload.host:
            event["host"] = payload.host
        index = payload.index or config.hec_index
        if index:
            event["index"] = index
        if payload.fields:
            event["fields"] = payload.fields
        response = await self.hec().request(
            "POST", "/services/collector/event", content=json.dumps(event),
            headers={"Content-Type": "application/json"}, ok_statuses=(400, 401, 403),
        )
        try:
            answer = response.json()
            code = int(answer.get("code"))
        except (ValueError, TypeError, AttributeError):
            raise DataError("The HTTP Event Collector's answer could not be read.") from None
        if code == 0:
            return {"ok": True, "code": 0, "index": index}
        if code in _HEC_AUTH:
            raise AuthenticationError(
                f"The HTTP Event Collector refused the token: {_HEC_AUTH[code]} (code {code}).",
                hint="Check hec_token, and that the token is enabled in Splunk.",
            )
        if code in _HEC_INPUT:
            field = "index" if code == 7 else "event"
            raise InvalidInputError(
                f"The HTTP Event Collector refused the event: {_HEC_INPUT[code]} (code {code}).",
                errors=[{"field": field, "message": _HEC_INPUT[code]}],
            )
        raise RemoteServerError(
            f"The HTTP Event Collector failed (code {code}).", status_code=response.status_code
        )

    @classmethod
    def default_mappings(cls) -> list[dict[str, Any]]:
        return default_mappings()


def default_mappings() -> list[dict[str, Any]]:
    """The default MappingSpec JSON of each stream (``mappings/*.json``)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(MAPPINGS_DIR.glob("*.json"))]
