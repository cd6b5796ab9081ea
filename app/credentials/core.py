"""Credentials as the console shows and edits them (Qt-free).

The fields of each authentication method come from the SDK's pydantic models
(`connectors.sdk.auth.FIELD_MODELS`): their JSON Schema generates the credential form, secret
fields marked ``writeOnly`` exactly like connector configuration. The agent stores secrets
in its vault and returns only masked hints; the console never has them after typing.

OAuth sign-in (authorization code + PKCE) runs in the console with the system browser and a
one-shot loopback redirect (`connectors.sdk.auth.sign_in_loopback`); the refresh token it
yields goes straight to the agent with ``PUT /auth-configs/{id}``.
"""

from __future__ import annotations

import datetime as dt
import webbrowser
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from app.core.api import ApiClient, JsonDict
from app.core.errors import ConsoleError
from app.core.formatting import parse_timestamp
from connectors.sdk.auth import FIELD_MODELS, AuthMethod, CredentialError, sign_in_loopback

AUTH_TITLES = {
    "api_key": "API key",
    "basic": "User name and password",
    "bearer": "Bearer token",
    "oauth2_client_credentials": "OAuth 2.0 client credentials",
    "oauth2_authorization_code": "OAuth 2.0 sign-in (browser)",
    "jwt_bearer": "Service account (JWT)",
    "certificate": "Client certificate (mTLS)",
    "aws": "AWS access key",
    "ldap_bind": "LDAP bind",
}
OAUTH_SIGN_IN = "oauth2_authorization_code"


def auth_title(auth_type: str) -> str:
    return AUTH_TITLES.get(auth_type, auth_type)


def credential_schema(auth_type: str) -> JsonDict:
    """The JSON Schema of an auth method's fields.

    Raises:
        ConsoleError: for a method this console does not know.
    """
    try:
        model = FIELD_MODELS[AuthMethod(auth_type)]
    except ValueError:
        raise ConsoleError(f"Authentication method: {auth_type!r} is not known") from None
    schema = model.model_json_schema()
    if auth_type == OAUTH_SIGN_IN:
        # The refresh token comes from "Sign in with browser", not from typing.
        schema["properties"].pop("refresh_token", None)
    return schema


def expiry_state(row: Mapping[str, Any], now: dt.datetime | None = None) -> str:
    """ "expired", "expires soon", "valid" or "" (no expiry known)."""
    expires = parse_timestamp(row.get("expiration"))
    if expires is None:
        return "expires soon" if row.get("expires_soon") else ""
    if expires <= (now or dt.datetime.now(dt.UTC)):
        return "expired"
    return "expires soon" if row.get("expires_soon") else "valid"


def describe_fields(row: Mapping[str, Any]) -> str:
    """Public fields and masked secrets, e.g. ``username=svc; password ••••``."""
    parts = [
        f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in (row.get("credentials") or {}).items()
        if v not in (None, "", [], {})
    ]
    parts += [f"{k} {hint}" for k, hint in (row.get("secret_hints") or {}).items()]
    return "; ".join(parts)


def used_by_text(row: Mapping[str, Any]) -> str:
    names = [str(ref.get("name")) for ref in row.get("used_by") or [] if isinstance(ref, dict)]
    return ", ".join(names) if names else "not used"


def decorate(rows: Iterable[Mapping[str, Any]]) -> list[JsonDict]:
    """API rows with the columns the Credentials page shows."""
    out = []
    for row in rows:
        item = dict(row)
        item["expiry_state"] = expiry_state(row)
        item["fields_text"] = describe_fields(row)
        item["used_by_text"] = used_by_text(row)
        item["auth_title"] = auth_title(str(row.get("auth_type")))
        out.append(item)
    return out


def expiry_warnings(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per credential that has expired or expires soon."""
    lines = []
    for row in rows:
        state = expiry_state(row)
        if state in ("expired", "expires soon"):
            when = parse_timestamp(row.get("expiration"))
            day = when.astimezone().strftime("%Y-%m-%d %H:%M") if when else "soon"
            users = used_by_text(row)
            verb = "expired" if state == "expired" else "expires"
            lines.append(f"{row.get('name')}: {verb} {day} (used by {users})")
    return lines


def credential_test_summary(result: Mapping[str, Any]) -> tuple[bool, str]:
    """(ok, readable text) of a `POST /auth-configs/{id}/test` answer."""
    ok = bool(result.get("ok"))
    inner = result.get("result") if isinstance(result.get("result"), dict) else {}
    assert isinstance(inner, dict)
    status = str(inner.get("status") or ("ok" if ok else "failed"))
    text = f"{status}: {inner.get('message') or ''}".strip()
    if inner.get("failure"):
        text += f" [{inner['failure']}]"
    if inner.get("hint"):
        text += f"\nHint: {inner['hint']}"
    if inner.get("missing_scope"):
        text += "\nMissing scopes: " + ", ".join(map(str, inner["missing_scope"]))
    return ok, text


async def create_credential(
    api: ApiClient,
    name: str,
    auth_type: str,
    fields: Mapping[str, Any],
    expiration: dt.datetime | None = None,
) -> JsonDict:
    body: JsonDict = {"name": name.strip(), "auth_type": auth_type, "credentials": dict(fields)}
    if expiration is not None:
        body["expiration"] = expiration.astimezone(dt.UTC).isoformat()
    return dict(await api.post("/auth-configs", body))


async def oauth_sign_in(
    api: ApiClient,
    credential: Mapping[str, Any],
    *,
    client_secret: str | None = None,
    open_browser: Callable[[str], object] = webbrowser.open,
    wait_seconds: float = 300.0,
) -> JsonDict:
    """Sign in with the browser for an OAuth credential and store its refresh token.

    ``credential`` is the API row (its public fields hold the endpoints and client id);
    a confidential client's secret is asked for again because the agent never returns it.
    Returns the updated credential row.

    Raises:
        ConsoleError: when the sign-in fails (declined, timed out, token endpoint error) or
            the provider issued no refresh token.
    """
    if credential.get("auth_type") != OAUTH_SIGN_IN:
        raise ConsoleError(
            f"Credential {credential.get('name')}: browser sign-in needs the "
            f"{auth_title(OAUTH_SIGN_IN)} method"
        )
    fields = {
        k: v
        for k, v in (credential.get("credentials") or {}).items()
        if v is not None and k != "refresh_token"
    }
    if client_secret:
        fields["client_secret"] = client_secret
    try:
        tokens = await sign_in_loopback(
            fields, open_browser=open_browser, wait_seconds=wait_seconds
        )
    except CredentialError as exc:
        hint = f" Hint: {exc.hint}" if exc.hint else ""
        raise ConsoleError(f"Sign-in failed: {exc}.{hint}") from None
    refresh = tokens.refresh_token
    if not refresh:
        raise ConsoleError(
            "Sign-in worked but the provider issued no refresh token; ask for offline "
            "access (e.g. the offline_access scope) in the credential's scopes."
        )
    updated = await api.put(
        f"/auth-configs/{credential['id']}", {"credentials": {"refresh_token": refresh}}
    )
    return dict(updated)
