"""Secret values are masked wherever they travel: message, arguments, exceptions, stacks."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sdk.auth import build_auth
from connectors.sdk.redact import MASK, RedactingFilter, SecretRegistry, install_redaction, registry

from .oauth_server import OAuthServer

CANARY = "canary-4a7f9c21-redact"


@pytest.fixture
def secrets() -> SecretRegistry:
    reg = SecretRegistry()
    reg.register(CANARY)
    return reg


@pytest.fixture
def captured(secrets: SecretRegistry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_masks_messages_args_exceptions_and_stacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.debug("token is %s", CANARY)
    logger.info(f"inline {CANARY} in an f-string")
    logger.info("dict arg %(v)s", {"v": CANARY})
    try:
        raise ValueError(f"refused {CANARY}")
    except ValueError:
        logger.exception("call failed")
    logger.warning("where", stack_info=True, extra={"note": CANARY})
    text = stream.getvalue()
    assert CANARY not in text
    assert text.count(MASK) >= 4
    assert "ValueError: refused [REDACTED]" in text


def test_encoded_forms_are_masked(secrets: SecretRegistry) -> None:
    secret = "p@ss word/with+specials"
    secrets.register(secret)
    for form in (secret, quote(secret, safe=""), quote_plus(secret)):
        assert secrets.redact(f"url?x={form}&y=1") == f"url?x={MASK}&y=1"
    encoded = base64.b64encode(secret.encode()).decode()
    assert secrets.redact(encoded) == MASK


def test_longest_secret_wins_and_short_values_are_ignored(secrets: SecretRegistry) -> None:
    secrets.register(CANARY + "-longer")
    assert secrets.redact(f"{CANARY}-longer") == MASK
    secrets.register("abc")  # too short to mask safely
    assert secrets.redact("abcdef") == "abcdef"


def test_basic_auth_header_value_is_masked(secrets: SecretRegistry) -> None:
    secrets.register_basic("alice", "correct-horse-battery")
    header = base64.b64encode(b"alice:correct-horse-battery").decode()
    assert secrets.redact(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}"


def test_build_auth_registers_secrets_so_httpx_logs_are_masked(oauth_server: OAuthServer) -> None:
    """A query-string API key shows up in httpx's own request log line; it must be masked."""
    key = "canary-query-key-91b2"
    auth = build_auth("api_key", {"api_key": key, "location": "query", "name": "key"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.addHandler(handler)
    previous = httpx_logger.level
    httpx_logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_redaction()
        with httpx.Client(auth=auth) as http:
            response = http.get(f"{oauth_server.base_url}/api/me")
        assert key in str(response.request.url)  # really sent
    finally:
        httpx_logger.removeHandler(handler)
        httpx_logger.setLevel(previous)
        root.removeHandler(handler)
    assert "HTTP Request: GET" in stream.getvalue()
    assert key not in stream.getvalue()
    registry.unregister(key)


@given(
    secret=st.text(min_size=6, max_size=30).filter(lambda s: s.strip() == s),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
@settings(max_examples=300, deadline=None)
def test_a_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    reg = SecretRegistry()
    reg.register(secret)
    assert secret not in reg.redact(before + secret + after)


def test_mask_fragments_cannot_rebuild_a_secret() -> None:
    reg = SecretRegistry()
    reg.register("ACTED]z")
    assert "ACTED]z" not in reg.redact("ACTED]zz")
