"""Field models and the non-OAuth methods: API key, Basic, Bearer, mTLS, AWS, LDAP."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from connectors.sdk.auth import (
    FIELD_MODELS,
    AuthFailure,
    AuthMethod,
    AwsCredentials,
    ClientCertificate,
    CredentialError,
    LdapBind,
    build_auth,
    build_http_auth,
    check_credential,
    masked_hint,
    merge_update,
    parse_fields,
    public_values,
    secret_values,
)
from connectors.sdk.fields import secret_field_names
from server.db.models import AuthType
from tests.support.certs import certificate, private_key_pem

CANARY = "canary-methods-0b5e77d2"


def _send(auth: httpx.Auth, url: str = "https://api.example.com/items?a=1") -> httpx.Request:
    """The request as the auth flow hands it to the transport (no network needed to see it)."""
    return next(auth.sync_auth_flow(httpx.Request("GET", url)))


def test_sdk_methods_match_the_agent_enum() -> None:
    assert {m.value for m in AuthMethod} == {t.value for t in AuthType}
    assert set(FIELD_MODELS) == set(AuthMethod)


def test_every_method_marks_its_secrets() -> None:
    expected = {
        "api_key": {"api_key"},
        "basic": {"password"},
        "bearer": {"token"},
        "oauth2_client_credentials": {"client_secret"},
        "oauth2_authorization_code": {"client_secret", "refresh_token"},
        "jwt_bearer": {"service_account_key", "private_key"},
        "certificate": {"private_key_pem", "private_key_password"},
        "aws": {"secret_access_key", "session_token"},
        "ldap_bind": {"password"},
    }
    for method, model in FIELD_MODELS.items():
        assert secret_field_names(model) == expected[method.value], method
        schema = model.model_json_schema()
        for name in expected[method.value]:
            assert schema["properties"][name]["writeOnly"] is True


def test_api_key_in_header_or_query() -> None:
    header = _send(build_http_auth("api_key", {"api_key": CANARY, "prefix": "Token "}))
    assert header.headers["X-API-Key"] == f"Token {CANARY}"
    query = _send(build_http_auth("api_key", {"api_key": CANARY, "location": "query", "name": "k"}))
    assert query.url.params["k"] == CANARY
    assert query.url.params["a"] == "1"
    assert "X-API-Key" not in query.headers


def test_basic_and_bearer() -> None:
    basic = _send(build_http_auth(AuthType.BASIC, {"username": "alice", "password": CANARY}))
    assert basic.headers["Authorization"].startswith("Basic ")
    bearer = _send(build_http_auth("bearer", {"token": CANARY}))
    assert bearer.headers["Authorization"] == f"Bearer {CANARY}"


def test_aws_and_ldap_are_typed_credentials() -> None:
    aws = build_auth(
        "aws",
        {
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": CANARY,
            "session_token": "session-token-value",
            "region": "eu-west-1",
            "role_arn": "arn:aws:iam::123456789012:role/SimpleTrustAudit",
            "external_id": "ext-1",
        },
    )
    assert isinstance(aws, AwsCredentials)
    assert aws.boto3_session_kwargs()["aws_secret_access_key"] == CANARY
    assert aws.boto3_session_kwargs()["region_name"] == "eu-west-1"
    assert aws.assume_role is not None
    assert aws.assume_role.sts_params()["ExternalId"] == "ext-1"
    assert CANARY not in repr(aws)

    ldap = build_auth("ldap_bind", {"bind_dn": "cn=svc,dc=example,dc=org", "password": CANARY})
    assert isinstance(ldap, LdapBind)
    assert ldap.password.get_secret_value() == CANARY
    assert CANARY not in repr(ldap)
    with pytest.raises(CredentialError, match="does not authenticate HTTP"):
        build_http_auth("ldap_bind", {"bind_dn": "cn=svc,dc=example", "password": CANARY})


def test_bad_fields_name_the_field_and_never_echo_values() -> None:
    with pytest.raises(CredentialError) as info:
        parse_fields("aws", {"access_key_id": "lower-case-" + CANARY, "secret_access_key": CANARY})
    assert info.value.failure == AuthFailure.CONFIGURATION
    assert "access_key_id" in info.value.message
    assert CANARY not in info.value.message
    with pytest.raises(CredentialError, match="api_kye: Extra inputs"):
        parse_fields("api_key", {"api_kye": CANARY})
    with pytest.raises(CredentialError, match="unknown auth type 'kerberos'"):
        parse_fields("kerberos", {})
    with pytest.raises(CredentialError, match="service_account_key: not valid JSON"):
        parse_fields("jwt_bearer", {"service_account_key": "{" + CANARY})


def test_public_and_secret_split_and_masked_hints() -> None:
    fields = parse_fields(
        "oauth2_client_credentials",
        {
            "token_url": "https://idp/token",
            "client_id": "c",
            "client_secret": CANARY,
            "scope": "a b",
        },
    )
    assert secret_values(fields) == {"client_secret": CANARY}
    public = public_values(fields)
    assert public["scope"] == ["a", "b"]
    assert "client_secret" not in public
    assert CANARY not in json.dumps(public)
    assert masked_hint(CANARY) == "••••77d2"
    assert masked_hint(SecretStr("short-pw")) == "••••"
    assert masked_hint(None) is None


def test_update_without_a_secret_keeps_the_stored_one() -> None:
    stored = {"token_url": "https://idp/token", "client_id": "c", "client_secret": CANARY}
    updated = merge_update(
        "oauth2_client_credentials", stored, {"client_id": "d", "client_secret": None}
    )
    assert secret_values(updated) == {"client_secret": CANARY}
    assert public_values(updated)["client_id"] == "d"


# -- mutual TLS against a real TLS server on loopback --------------------------------------------


@dataclass
class Pki:
    ca_pem: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    return Pki(
        ca_pem=certificate("Test CA", ca_key, ca_key, ca=True).decode(),
        server_cert=certificate("127.0.0.1", server_key, ca_key, ips=("127.0.0.1",)).decode(),
        server_key=private_key_pem(server_key).decode(),
        client_cert=certificate("simpletrust-agent", client_key, ca_key).decode(),
        client_key=private_key_pem(client_key).decode(),
    )


@pytest.fixture
def mtls_url(pki: Pki, tmp_path: Any) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            subject = dict(item[0] for item in peer["subject"])
            body = json.dumps({"client": subject["commonName"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    (tmp_path / "s.pem").write_text(pki.server_cert)
    (tmp_path / "s.key").write_text(pki.server_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "s.pem", tmp_path / "s.key")
    context.load_verify_locations(cadata=pki.ca_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/whoami"
    httpd.shutdown()
    httpd.server_close()


def test_client_certificate_passes_mutual_tls(pki: Pki, mtls_url: str) -> None:
    fields = {
        "certificate_pem": pki.client_cert,
        "private_key_pem": pki.client_key,
        "ca_bundle_pem": pki.ca_pem,
    }
    cert = build_auth("certificate", fields)
    assert isinstance(cert, ClientCertificate)
    with httpx.Client(verify=cert.ssl_context()) as http:
        assert http.get(mtls_url).json() == {"client": "simpletrust-agent"}

    # The same server refuses a client without the certificate.
    with (
        httpx.Client(verify=ssl.create_default_context(cadata=pki.ca_pem)) as http,
        pytest.raises(httpx.HTTPError),
    ):
        http.get(mtls_url)


async def test_certificate_check_and_a_mismatched_key(pki: Pki, mtls_url: str) -> None:
    fields = {
        "certificate_pem": pki.client_cert,
        "private_key_pem": pki.client_key,
        "ca_bundle_pem": pki.ca_pem,
    }
    assert (await check_credential("certificate", fields, probe_url=mtls_url)).ok
    wrong = {**fields, "private_key_pem": pki.server_key}  # another key: does not match the cert
    result = await check_credential("certificate", wrong)
    assert result.failure == AuthFailure.CONFIGURATION
    assert "cannot be loaded" in result.message
    untested = await check_credential("certificate", fields)
    assert untested.status == "untested"
