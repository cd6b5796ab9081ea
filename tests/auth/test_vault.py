"""Envelope encryption and master key loading, on real files in a temporary data directory."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from server.vault import (
    EnvelopeCorruptError,
    MasterKey,
    MasterKeyInvalidError,
    MasterKeyMissingError,
    Vault,
    WrongMasterKey,
    is_envelope,
)
from server.vault.envelope import rewrap
from server.vault.keysource import ENV_VAR

SECRET = {"client_secret": "canary-5f0c2d9e-vault", "refresh_token": "rt-123456789"}
NO_ENV: dict[str, str] = {}


# These tests exercise the env and file sources; the keyring paths have their own tests.
pytestmark = pytest.mark.usefixtures("fail_keyring")


def test_round_trip_and_envelope_shape() -> None:
    vault = Vault.from_key(MasterKey.generate())
    envelope = vault.seal("rec-1", SECRET)
    assert is_envelope(envelope)
    assert set(envelope) == {"v", "alg", "kid", "dek", "nonce", "ct"}
    assert envelope["kid"] == vault.kid
    json.dumps(envelope)  # fits a JSON column as is
    assert "canary" not in json.dumps(envelope)
    assert vault.open("rec-1", envelope) == SECRET
    # A fresh data key and nonce every time: equal secrets do not give equal ciphertexts.
    assert vault.seal("rec-1", SECRET)["ct"] != envelope["ct"]


def test_envelope_is_bound_to_its_record() -> None:
    vault = Vault.from_key(MasterKey.generate())
    envelope = vault.seal("rec-1", SECRET)
    with pytest.raises(EnvelopeCorruptError, match=r"rec-2.*copied from another record"):
        vault.open("rec-2", envelope)
    # Swapping only the ciphertext under another row's (valid) data key fails as well.
    other = vault.seal("rec-2", {"x": "y"})
    with pytest.raises(EnvelopeCorruptError):
        vault.open("rec-2", {**other, "ct": envelope["ct"], "nonce": envelope["nonce"]})


def test_tampered_envelope_is_refused() -> None:
    vault = Vault.from_key(MasterKey.generate())
    envelope = vault.seal("rec-1", SECRET)
    ct = bytearray(envelope["ct"].encode())
    ct[5] = ord("A") if ct[5] != ord("A") else ord("B")
    with pytest.raises(EnvelopeCorruptError, match="altered"):
        vault.open("rec-1", {**envelope, "ct": ct.decode()})
    with pytest.raises(EnvelopeCorruptError, match="damaged"):
        vault.open("rec-1", {**envelope, "nonce": "%%%"})
    with pytest.raises(EnvelopeCorruptError, match="not an encrypted envelope"):
        vault.open("rec-1", {"client_secret": "plain"})


def test_other_key_is_a_clear_error_without_the_secret() -> None:
    envelope = Vault.from_key(MasterKey.generate()).seal("rec-1", SECRET)
    with pytest.raises(WrongMasterKey, match="sealed with master key") as info:
        Vault.from_key(MasterKey.generate()).open("rec-1", envelope)
    assert "canary" not in str(info.value)


def test_rewrap_keeps_the_ciphertext() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    envelope = Vault.from_key(old).seal("rec-1", SECRET)
    moved = rewrap(old, new, "rec-1", envelope)
    assert moved["ct"] == envelope["ct"]
    assert moved["kid"] == new.kid
    assert Vault.from_key(new).open("rec-1", moved) == SECRET


def test_first_run_creates_a_0600_key_file_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="simpletrust.vault"):
        vault = Vault.load(tmp_path, create=True, environ=NO_ENV)
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "generated a new master key" in caplog.text
    assert key_file.read_text().strip() not in caplog.text
    assert json.loads((tmp_path / "vault.json").read_text())["kid"] == vault.kid
    again = Vault.load(tmp_path, create=False, environ=NO_ENV)
    assert again.open("r", vault.seal("r", SECRET)) == SECRET


def test_no_key_and_no_create_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyMissingError, match="no master key"):
        Vault.load(tmp_path, create=False, environ=NO_ENV)
    assert list(tmp_path.iterdir()) == []


def test_lost_key_is_never_silently_replaced(tmp_path: Path) -> None:
    vault = Vault.load(tmp_path, create=True, environ=NO_ENV)
    (tmp_path / "master.key").unlink()
    with pytest.raises(MasterKeyMissingError, match=f"sealed with master key {vault.kid}"):
        Vault.load(tmp_path, create=True, environ=NO_ENV)
    assert not (tmp_path / "master.key").exists()


def test_env_key_is_used_and_a_wrong_one_is_refused_before_writing(tmp_path: Path) -> None:
    key = MasterKey.generate()
    vault = Vault.load(tmp_path, create=True, environ={ENV_VAR: key.to_text()})
    assert vault.kid == key.kid
    assert not (tmp_path / "master.key").exists()  # the env key is not copied to disk
    marker = (tmp_path / "vault.json").read_bytes()

    wrong = MasterKey.generate()
    with pytest.raises(WrongMasterKey, match="not the key the credentials") as info:
        Vault.load(tmp_path, create=True, environ={ENV_VAR: wrong.to_text()})
    assert wrong.to_text() not in str(info.value)
    assert (tmp_path / "vault.json").read_bytes() == marker
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.json"]


def test_malformed_env_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyInvalidError, match=f"environment variable {ENV_VAR}"):
        Vault.load(tmp_path, create=True, environ={ENV_VAR: "not-a-key"})


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    Vault.load(tmp_path, create=True, environ=NO_ENV)
    (tmp_path / "master.key").chmod(0o644)
    with pytest.raises(MasterKeyInvalidError, match="chmod 600"):
        Vault.load(tmp_path, create=False, environ=NO_ENV)


def test_repr_never_shows_the_key() -> None:
    key = MasterKey.generate()
    assert key.to_text() not in repr(key)
    assert key.kid in repr(key)
