"""Master key rotation over a real SQLite file with the agent's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from server.cli.secrets import app as secrets_app
from server.db.engine import make_engine, make_session_factory
from server.db.models import AuthenticationConfig, AuthType, Base
from server.vault import (
    MasterKey,
    RotationError,
    Vault,
    WrongMasterKey,
    rotate_master_key,
)
from server.vault.keysource import ENV_VAR, KEYRING_SERVICE, NEXT_ENV_VAR

pytestmark = pytest.mark.usefixtures("fail_keyring")

ROWS = 23
NO_ENV: dict[str, str] = {}


class Crash(Exception):
    """Stands for the process dying between two committed batches."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _secret(i: int) -> dict[str, Any]:
    return {"client_secret": f"canary-rotation-{i:03d}", "refresh_token": f"rt-{i}"}


def _populate(sessions: sessionmaker[Session], vault: Vault) -> dict[str, dict[str, Any]]:
    expected: dict[str, dict[str, Any]] = {}
    with sessions() as session:
        for i in range(ROWS):
            record_id = uuid.uuid4()
            secret = _secret(i)
            session.add(
                AuthenticationConfig(
                    id=record_id,
                    name=f"cred-{i}",
                    auth_type=AuthType.OAUTH2_CLIENT_CREDENTIALS,
                    credentials=vault.seal(str(record_id), secret),
                )
            )
            expected[str(record_id)] = secret
        session.add(AuthenticationConfig(name="no-secret", auth_type=AuthType.BEARER))
        session.commit()
    return expected


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        rows = session.execute(
            select(AuthenticationConfig.id, AuthenticationConfig.credentials)
        ).all()
    return {str(row_id): creds for row_id, creds in rows}


def _assert_all_open(vault: Vault, sessions: sessionmaker[Session], expected: dict[str, Any]):
    snapshot = _snapshot(sessions)
    for record_id, secret in expected.items():
        assert vault.open(record_id, snapshot[record_id]) == secret


def test_rotation_rewraps_every_row(sessions: sessionmaker[Session], data_dir: Path) -> None:
    vault = Vault.load(data_dir, create=True, environ=NO_ENV)
    old_kid = vault.kid
    expected = _populate(sessions, vault)
    new_key = MasterKey.generate()

    report = rotate_master_key(sessions, vault, new_key, batch_size=5)

    assert (report.rewrapped, report.already_current, report.empty) == (ROWS, 0, 1)
    assert report.batches == 5
    assert report.operator_action is None
    assert {c["kid"] for c in _snapshot(sessions).values() if c} == {new_key.kid}
    reloaded = Vault.load(data_dir, create=False, environ=NO_ENV)
    assert reloaded.kid == new_key.kid != old_kid
    assert list(reloaded.keys) == [new_key.kid]  # the old key is gone
    assert not (data_dir / "master.key.next").exists()
    _assert_all_open(reloaded, sessions, expected)


def test_rotation_killed_midway_then_rerun(sessions: sessionmaker[Session], data_dir: Path) -> None:
    vault = Vault.load(data_dir, create=True, environ=NO_ENV)
    expected = _populate(sessions, vault)
    new_key = MasterKey.generate()

    def crash_after_second_batch(batch: int) -> None:
        if batch == 2:
            raise Crash

    with pytest.raises(Crash):
        rotate_master_key(
            sessions, vault, new_key, batch_size=5, after_batch=crash_after_second_batch
        )

    # A fresh process: both keys load, every row opens, new rows use the new key.
    after_crash = Vault.load(data_dir, create=True, environ=NO_ENV)
    assert after_crash.pending_key == new_key
    assert after_crash.kid == new_key.kid
    kids = [c["kid"] for c in _snapshot(sessions).values() if c]
    assert kids.count(new_key.kid) == 10
    _assert_all_open(after_crash, sessions, expected)

    # Another key than the staged one is refused: the staged rotation must finish first.
    with pytest.raises(RotationError, match="in progress"):
        rotate_master_key(sessions, after_crash, MasterKey.generate())

    report = rotate_master_key(sessions, after_crash, after_crash.pending_key, batch_size=5)
    assert (report.rewrapped, report.already_current) == (ROWS - 10, 10)

    final = Vault.load(data_dir, create=False, environ=NO_ENV)
    assert list(final.keys) == [new_key.kid]
    _assert_all_open(final, sessions, expected)


def test_keyring_source_stages_and_promotes_in_the_keyring(
    sessions: sessionmaker[Session],
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a keyring, the staged key is a second keyring entry; no key file ever appears."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    backend = PlaintextKeyring()
    keyring.set_keyring(backend)  # the fail_keyring fixture restores the previous one
    vault = Vault.load(data_dir, create=True, environ=NO_ENV)
    entry = f"master-key:{data_dir.resolve()}"
    assert backend.get_password(KEYRING_SERVICE, entry) == vault.current_key.to_text()
    expected = _populate(sessions, vault)
    new_key = MasterKey.generate()

    def crash(batch: int) -> None:
        assert backend.get_password(KEYRING_SERVICE, entry + ":next") == new_key.to_text()
        raise Crash

    with pytest.raises(Crash):
        rotate_master_key(sessions, vault, new_key, batch_size=10, after_batch=crash)
    resumed = Vault.load(data_dir, create=False, environ=NO_ENV)
    _assert_all_open(resumed, sessions, expected)
    assert resumed.pending_key == new_key
    rotate_master_key(sessions, resumed, new_key)

    assert backend.get_password(KEYRING_SERVICE, entry) == new_key.to_text()
    assert backend.get_password(KEYRING_SERVICE, entry + ":next") is None
    assert sorted(p.name for p in data_dir.iterdir()) == ["vault.json"]
    _assert_all_open(Vault.load(data_dir, create=False, environ=NO_ENV), sessions, expected)


def test_wrong_old_key_changes_nothing(sessions: sessionmaker[Session], data_dir: Path) -> None:
    vault = Vault.load(data_dir, create=True, environ=NO_ENV)
    _populate(sessions, vault)
    before = _snapshot(sessions)
    files_before = sorted(p.name for p in data_dir.iterdir())

    with pytest.raises(WrongMasterKey, match="nothing was changed"):
        rotate_master_key(sessions, Vault.from_key(MasterKey.generate()), MasterKey.generate())

    assert _snapshot(sessions) == before
    assert sorted(p.name for p in data_dir.iterdir()) == files_before


def test_plain_text_credentials_stop_the_rotation(
    sessions: sessionmaker[Session], data_dir: Path
) -> None:
    vault = Vault.load(data_dir, create=True, environ=NO_ENV)
    _populate(sessions, vault)
    with sessions() as session:
        session.add(
            AuthenticationConfig(
                name="legacy", auth_type=AuthType.BASIC, credentials={"password": "plain"}
            )
        )
        session.commit()
    before = _snapshot(sessions)
    with pytest.raises(RotationError, match="not encrypted"):
        rotate_master_key(sessions, vault, MasterKey.generate())
    assert _snapshot(sessions) == before


def test_env_keys_rotate_with_the_operator_swapping_variables(
    sessions: sessionmaker[Session], data_dir: Path
) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    vault = Vault.load(data_dir, create=True, environ={ENV_VAR: old.to_text()})
    expected = _populate(sessions, vault)
    before = _snapshot(sessions)

    # We cannot write the environment: without the new key in it, refuse before writing.
    with pytest.raises(RotationError, match=NEXT_ENV_VAR):
        rotate_master_key(sessions, vault, new)
    assert _snapshot(sessions) == before

    both = {ENV_VAR: old.to_text(), NEXT_ENV_VAR: new.to_text()}
    vault = Vault.load(data_dir, create=False, environ=both)
    report = rotate_master_key(sessions, vault, vault.pending_key or new)
    assert report.operator_action is not None
    assert NEXT_ENV_VAR in report.operator_action
    # Until the operator swaps the variables, both keys load; afterwards the new one alone.
    _assert_all_open(Vault.load(data_dir, create=False, environ=both), sessions, expected)
    swapped = Vault.load(data_dir, create=False, environ={ENV_VAR: new.to_text()})
    _assert_all_open(swapped, sessions, expected)
    with pytest.raises(WrongMasterKey):
        Vault.load(data_dir, create=False, environ={ENV_VAR: old.to_text()})


def test_cli_status_and_rotate(
    sessions: sessionmaker[Session], data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(NEXT_ENV_VAR, raising=False)
    vault = Vault.load(data_dir, create=True)
    expected = _populate(sessions, vault)
    args = ["--data-dir", str(data_dir), "--database-url", f"sqlite:///{tmp_path / 'agent.db'}"]
    runner = CliRunner()

    result = runner.invoke(secrets_app, ["status", *args])
    assert result.exit_code == 0, result.output
    assert f"master key id:     {vault.kid}" in result.output
    assert f"key {vault.kid}: {ROWS}" in result.output

    result = runner.invoke(secrets_app, ["rotate-master-key", *args, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert f"{ROWS} re-wrapped" in result.output

    rotated = Vault.load(data_dir, create=False)
    assert rotated.kid != vault.kid
    _assert_all_open(rotated, sessions, expected)
    result = runner.invoke(secrets_app, ["status", *args])
    assert f"key {rotated.kid}: {ROWS}" in result.output
    assert "canary" not in result.output


def test_cli_wrong_key_is_one_line_not_a_traceback(
    sessions: sessionmaker[Session], data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NEXT_ENV_VAR, raising=False)
    monkeypatch.delenv(ENV_VAR, raising=False)
    vault = Vault.load(data_dir, create=True)
    _populate(sessions, vault)
    (data_dir / "master.key").unlink()
    monkeypatch.setenv(ENV_VAR, MasterKey.generate().to_text())
    args = ["--data-dir", str(data_dir), "--database-url", f"sqlite:///{tmp_path / 'agent.db'}"]
    result = CliRunner().invoke(secrets_app, ["rotate-master-key", *args])
    assert result.exit_code == 1
    assert result.output.startswith("error: the master key from environment variable")
    assert "Traceback" not in result.output


def test_cli_without_tables_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    Vault.load(data_dir, create=True, environ=NO_ENV)
    args = ["--data-dir", str(data_dir), "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"]
    result = CliRunner().invoke(secrets_app, ["status", *args], env={ENV_VAR: ""})
    assert result.exit_code == 1
    assert "error: cannot read the credentials table (OperationalError)" in result.output
