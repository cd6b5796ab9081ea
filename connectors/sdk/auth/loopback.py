"""Desktop OAuth sign-in through a one-shot loopback redirect (RFC 8252 section 7.3).

A tiny HTTP listener on ``127.0.0.1`` with a random port receives the browser's redirect,
``state`` is checked, and the code is exchanged with PKCE (S256). The browser opener is a
parameter: the console passes ``webbrowser.open``, tests drive the redirect with httpx.

Example::

    token = await sign_in_loopback(fields, token_store=store)
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.auth.models import (
    AuthFields,
    AuthMethod,
    OAuth2AuthorizationCodeFields,
    parse_fields,
)
from connectors.sdk.auth.oauth import acomplete_authorization, start_authorization
from connectors.sdk.auth.tokens import TokenSet, TokenStore

log = logging.getLogger("simpletrust.auth")

CALLBACK_PATH = "/callback"
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>SimpleTrust</title></head>"
    "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p></body></html>"
)


def _page(ok: bool) -> bytes:
    if ok:
        title, text = "Signed in", "You can close this window and return to SimpleTrust."
    else:
        title, text = "Sign-in failed", "Return to SimpleTrust for details, then try again."
    return _PAGE.format(title=title, text=text).encode()


async def _respond(writer: asyncio.StreamWriter, status: str, body: bytes) -> None:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


async def sign_in_loopback(
    fields: OAuth2AuthorizationCodeFields | AuthFields | dict[str, Any],
    *,
    open_browser: Callable[[str], object] = webbrowser.open,
    token_store: TokenStore | None = None,
    wait_seconds: float = 300.0,
    client: httpx.AsyncClient | None = None,
) -> TokenSet:
    """Sign in with the system browser and return the tokens (saved to ``token_store``).

    Raises:
        CredentialError: ``denied`` (consent declined), ``state_mismatch``, ``timeout``
            (nobody finished within ``wait_seconds``), or a token endpoint failure.
    """
    parsed = parse_fields(AuthMethod.OAUTH2_AUTHORIZATION_CODE, fields)
    assert isinstance(parsed, OAuth2AuthorizationCodeFields)
    loop = asyncio.get_running_loop()
    callback: asyncio.Future[dict[str, str]] = loop.create_future()
    expected_state: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing in them matters here
            method, target, *_ = request_line.decode("latin-1").split(" ")
            url = urlsplit(target)
            if method != "GET" or url.path != CALLBACK_PATH:
                await _respond(writer, "404 Not Found", b"")
                return
            if callback.done():
                await _respond(writer, "409 Conflict", _page(False))
                return
            params = dict(parse_qsl(url.query))
            state_ok = hmac.compare_digest(
                params.get("state", "").encode(), expected_state[0].encode()
            )
            await _respond(
                writer, "200 OK", _page(state_ok and "code" in params and "error" not in params)
            )
            callback.set_result(params)
        except (TimeoutError, ValueError, ConnectionError):
            pass  # a stray or broken connection; keep waiting for the real redirect
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        pending = start_authorization(parsed, f"http://127.0.0.1:{port}{CALLBACK_PATH}")
        expected_state.append(pending.state)
        opened = open_browser(pending.url)
        if inspect.isawaitable(opened):
            opened = await opened
        if opened is False:
            raise CredentialError(
                AuthFailure.CONFIGURATION,
                "no web browser could be opened for the sign-in",
                hint="Sign in from a machine with a browser, or use the agent's sign-in page.",
            )
        log.info("waiting for the OAuth sign-in redirect on 127.0.0.1:%s", port)
        try:
            async with asyncio.timeout(wait_seconds):
                params = await callback
        except TimeoutError:
            raise CredentialError(
                AuthFailure.TIMEOUT, f"no sign-in completed within {wait_seconds:g} s"
            ) from None
    finally:
        server.close()
        await server.wait_closed()
    return await acomplete_authorization(
        parsed, pending, params, token_store=token_store, client=client
    )
