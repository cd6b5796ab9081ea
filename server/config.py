"""Agent settings: environment (``SIMPLETRUST_*``), an optional TOML file, then defaults.

The database defaults to a SQLite file in the user data directory, so ``make run`` needs no
server; any ``postgresql+psycopg://`` URL works instead. Invalid settings stop start-up with one
line naming the setting (see :func:`load_settings`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "simpletrust"
ENV_PREFIX = "SIMPLETRUST_"
DEFAULT_PORT = 8765


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


#: The default of ``max_parallel_syncs`` on PostgreSQL (see the setting).
POSTGRES_PARALLEL_SYNCS = 64


class SettingsError(Exception):
    """Settings that cannot be used; the message is one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # empty: SQLite file in data_dir
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    allow_third_party_plugins: bool = True
    #: Most syncs the agent runs at once (each instance runs one sync at a time). Unset:
    #: 4 on SQLite (one writer at a time), 64 on PostgreSQL, where a sync mostly waits on
    #: its API and borrows a pooled connection only for its short database steps.
    max_parallel_syncs: int = Field(default=4, ge=1, le=256)
    #: Processes that run scheduled syncs (issue 6, PostgreSQL only: SQLite has one writer at
    #: a time): the agent itself and ``sync_workers - 1`` children (``server.agents.workers``),
    #: each with its own interpreter, so a fleet of syncs can use more than one core.
    #: ``max_parallel_syncs`` applies to each. 1 unless set: each worker costs ~150 MB and
    #: helps only where a core is free (see the scheduling guide).
    sync_workers: int = Field(default=1, ge=1, le=32)
    #: Start the demo sandbox (simulators and demo instances) with the agent.
    demo: bool = False
    #: Credentials expiring within this many days are reported.
    credential_expiry_warning_days: int = Field(default=14, ge=0, le=3650)
    #: Several agents (issue 6): heartbeat period, and how long a sync's lease holds without
    #: renewal before another agent takes the sync over.
    agent_heartbeat_seconds: float = Field(default=5.0, gt=0, le=300)
    sync_lease_seconds: float = Field(default=60.0, ge=2, le=3600)
    #: Inbound webhooks: largest body accepted (413 beyond) and timestamp tolerance.
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    webhook_tolerance_seconds: int = Field(default=300, ge=10, le=86_400)
    #: E-mail notifications of event subscriptions (no host: e-mail actions fail clearly).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "simpletrust@localhost"
    smtp_starttls: bool = True
    #: Integration health (issue 7): how often the agent rolls metrics up and evaluates
    #: alerts, how long raw samples are kept, and who may scrape the Prometheus endpoint.
    monitoring_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    metrics_retention_days: int = Field(default=14, ge=1, le=3650)
    prometheus_anonymous_loopback: bool = False
    #: Recovery: attempts of a failing stream within one sync, and the longest rate-limit wait.
    sync_retry_attempts: int = Field(default=3, ge=1, le=20)
    sync_retry_backoff_seconds: float = Field(default=5.0, ge=0, le=3600)
    sync_max_rate_limit_wait_seconds: float = Field(default=900.0, ge=0, le=86_400)
    #: Consecutive failed syncs that open the circuit breaker (the instance goes to error).
    circuit_breaker_failures: int = Field(default=3, ge=1, le=100)
    circuit_breaker_cooldown_seconds: float = Field(default=900.0, ge=0, le=86_400)
    #: Alerts: failed syncs in a row, a sync running this many times its usual duration,
    #: throttled requests per hour.
    alert_failed_syncs: int = Field(default=2, ge=1, le=100)
    alert_hung_factor: float = Field(default=3.0, ge=1.0, le=100.0)
    alert_hung_min_seconds: float = Field(default=900.0, ge=0, le=86_400)
    alert_throttled_per_hour: int = Field(default=50, ge=1, le=1_000_000)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite://", "sqlite+pysqlite://", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver we ship; the bare scheme would ask for psycopg2.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'simpletrust.db'}"
        if "max_parallel_syncs" not in self.model_fields_set and not self.is_sqlite:
            self.max_parallel_syncs = POSTGRES_PARALLEL_SYNCS
        if self.sync_workers > 1 and self.is_sqlite:
            raise ValueError(f"{ENV_PREFIX}SYNC_WORKERS above 1 needs PostgreSQL (SQLite "
                             "has one writer at a time)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def agent_id(self) -> str:
        """Stable across restarts of the same agent (host + data directory), so an agent that
        was killed recognises its own unfinished syncs and resumes them at once."""
        import hashlib  # noqa: PLC0415
        import socket  # noqa: PLC0415

        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
        return f"{socket.gethostname()}:{digest}"

    @property
    def api_base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable line."""
    toml_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if toml_file and not Path(toml_file).is_file():
        raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: no such file: {toml_file}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        name = f"{ENV_PREFIX}{field.upper()}" if field != "settings" else field
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise SettingsError(f"invalid setting {name}: {first['msg']}{more}") from None
    except ValueError as exc:  # e.g. a malformed TOML file
        raise SettingsError(f"invalid settings: {exc}") from None


#: SIMPLETRUST_* variables read elsewhere (the vault, the test suite), not settings fields.
OTHER_ENV = {"CONFIG_FILE", "MASTER_KEY", "NEW_MASTER_KEY", "TEST_POSTGRES_URL", "RESOURCES",
             "AUDIT_SIGNING_KEY"}


def unknown_env_settings() -> list[str]:
    """``SIMPLETRUST_*`` variables that nothing reads: most likely typos."""
    known = {name.upper() for name in Settings.model_fields} | OTHER_ENV
    return sorted(key for key in os.environ
                  if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):] not in known)


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own with :func:`load_settings`)."""
    return load_settings()
