"""Profiles on disk and tokens in the keyring (or not, when there is none)."""

from __future__ import annotations

import os
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app.core.profiles import KEYRING_SERVICE, AgentProfile, ProfileStore, TokenStore


def test_profiles_round_trip_without_tokens(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(AgentProfile("Local", "127.0.0.1:8765/"))
    store.save(AgentProfile("Prod", "https://agent.example/api/integration"), make_last_used=False)
    again = ProfileStore(tmp_path)
    assert [p.name for p in again.list()] == ["Local", "Prod"]
    assert again.get("Prod") == AgentProfile("Prod", "https://agent.example")
    assert again.last() == AgentProfile("Local", "http://127.0.0.1:8765")
    assert "token" not in store.path.read_text()
    again.remove("Local")
    assert ProfileStore(tmp_path).last() is None


def test_damaged_profile_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / ProfileStore.FILE_NAME).write_text("{not json")
    store = ProfileStore(tmp_path)
    assert store.list() == []
    assert store.load_error is not None
    assert "could not be read" in store.load_error


@pytest.mark.parametrize(
    ("name", "url", "field"), [("", "h:1", "Profile name"), ("x", "", "Agent URL")]
)
def test_profile_validation_names_the_field(name: str, url: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AgentProfile(name, url)


def test_token_goes_to_keyring_under_agent_url() -> None:
    tokens = TokenStore()
    assert tokens.set("http://127.0.0.1:8765/api/integration", "tok-1") is True
    assert keyring.get_password(KEYRING_SERVICE, "http://127.0.0.1:8765") == "tok-1"
    assert tokens.get("127.0.0.1:8765") == "tok-1"
    tokens.delete("http://127.0.0.1:8765")
    assert keyring.get_password(KEYRING_SERVICE, "http://127.0.0.1:8765") is None


def test_agent_written_token_is_found() -> None:
    """The agent writes its admin token with the same service and username."""
    keyring.set_password(KEYRING_SERVICE, "http://127.0.0.1:8765", "agent-made")
    assert TokenStore().get("http://127.0.0.1:8765/") == "agent-made"


def test_without_keyring_token_file_and_session_memory(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    data_dir = Path(os.environ["SIMPLETRUST_DATA_DIR"])
    data_dir.mkdir(parents=True)
    (data_dir / "admin-token").write_text("from-file\n")
    tokens = TokenStore()
    assert not TokenStore.is_secure()
    assert tokens.get("http://127.0.0.1:8765") == "from-file"
    assert tokens.get("http://agent.example:8765") is None  # the file is only for local agents
    assert tokens.set("http://agent.example:8765", "typed") is False
    assert tokens.get("http://agent.example:8765") == "typed"
