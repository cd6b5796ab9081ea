"""E-mail notifications through a real SMTP server (aiosmtpd on loopback).

The subscription's notification goes out over SMTP with the rendered subject and message, the
configured sender and, where the server asks for it, AUTH with the configured login; a refused
login fails the delivery with the server's answer named, never the password.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine

from server.config import load_settings
from tests.support.api import Api, api_for
from tests.support.record_source import Source, generic_rest_config, serve_source
from tests.webhooks.helpers import wait_for

LOGIN, PASSWORD = "simpletrust", "smtp-Secret-5b1e"


class Inbox:
    """An aiosmtpd handler that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _authenticator(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(), auth_data.password.decode()) == (LOGIN, PASSWORD)
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _agent(engine: Engine, db_url: str, folder: Path, port: int, password: str) -> Api:
    settings = load_settings(database_url=db_url, data_dir=folder, smtp_host="127.0.0.1",
                             smtp_port=port, smtp_starttls=False, smtp_username=LOGIN,
                             smtp_password=password, smtp_from="compliance@example.org")
    return api_for(settings, engine)


def _notify_on_sync(api: Api, *, max_attempts: int = 3) -> dict[str, Any]:
    with serve_source(Source(2)) as url:
        instance = api.create_instance("Directory", "generic-rest", generic_rest_config(url))
        resp = api.post("/event-subscriptions", {
            "instance_id": instance["id"], "event_type": "sync.completed",
            "action_type": "notification", "filter_criteria": {},
            "action_config": {"message": "${data.stats.created} records created in "
                                         "${data.instance}",
                              "email": {"to": ["secops@example.com"],
                                        "subject": "Synced: ${data.instance}"},
                              "max_attempts": max_attempts}})
        assert resp.status_code == 201, resp.text
        api.sync(instance["id"])
    return dict(resp.json())


def test_notification_is_mailed_through_smtp_with_auth(
    smtp: tuple[Inbox, int], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    inbox, port = smtp
    api = _agent(engine, db_url, tmp_path / "data", port, PASSWORD)
    with api.client:
        _notify_on_sync(api)
        wait_for(lambda: inbox.messages, timeout=30)
    envelope, mail = inbox.messages[0]
    assert envelope.mail_from == "compliance@example.org"
    assert envelope.rcpt_tos == ["secops@example.com"]
    assert mail["Subject"] == "Synced: Directory"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert body.decode().startswith("2 records created in Directory")
    assert len(inbox.messages) == 1  # delivered once


def test_a_refused_smtp_login_fails_the_delivery_without_the_password(
    smtp: tuple[Inbox, int], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    inbox, port = smtp
    api = _agent(engine, db_url, tmp_path / "data", port, "not-" + PASSWORD)
    with api.client:
        sub = _notify_on_sync(api, max_attempts=1)
        failed = wait_for(lambda: [d for d in api.get(
            f"/event-subscriptions/{sub['id']}/deliveries").json()["items"]
            if d["status"] == "failed"], timeout=30)[0]
        logs = api.get("/logs", params={"limit": 200}).text
    assert inbox.messages == []
    assert f"SMTP 127.0.0.1:{port}: SMTPAuthenticationError" in failed["last_error"]
    assert PASSWORD not in str(failed)
    assert PASSWORD not in logs
