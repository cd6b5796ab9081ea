"""Connecting to slapd: TLS (LDAPS and StartTLS), paging past the size limit, and failures
translated into the SDK's error tree (each one provoked for real, on loopback)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connectors.builtin.ldap import LdapConnector
from connectors.builtin.ldap._ldap3 import SUBTREE, Connection, Server
from connectors.sandbox.slapd import (
    SERVICE_DN,
    SERVICE_PW,
    SIZE_LIMIT,
    SUFFIX,
    Slapd,
    free_port,
    make_tls,
)
from connectors.sdk import (
    AuthenticationError,
    BlockedAddressError,
    CheckName,
    CheckStatus,
    ConfigError,
    ConnectorContext,
    ErrorAction,
    NetworkError,
)
from connectors.sdk.auth import LdapBind, build_auth
from connectors.sdk.testing import loopback_context_value
from tests.connectors.conftest_peers import read_all
from tests.connectors.ldap import directory as d
from tests.connectors.ldap.conftest import config_for


def connector(config: dict[str, Any], credentials: LdapBind | None,
              context: ConnectorContext | None = None) -> LdapConnector:
    return LdapConnector(config, credentials=credentials,
                         context=context or loopback_context_value())


async def usernames(c: LdapConnector) -> set[str]:
    records, _ = await read_all(c, "users")
    return {r["username"] for r in records}


async def test_paged_reads_go_past_the_server_size_limit(
    slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    # The limit is real: the same account's plain search is cut off by slapd.
    plain = Connection(Server("127.0.0.1", port=slapd.port, get_info="NO_INFO"),
                       SERVICE_DN, SERVICE_PW, auto_bind=True)
    with plain:
        plain.search(SUFFIX, "(objectClass=inetOrgPerson)", SUBTREE, attributes=["uid"])
        assert plain.result["description"] == "sizeLimitExceeded"
        assert len(plain.response) == SIZE_LIMIT < len(d.USERS)
    for page_size in (2, SIZE_LIMIT, 1000):
        async with connector(config_for(slapd, page_size=page_size), ldap_credentials) as c:
            assert await usernames(c) == set(d.USERS), page_size


async def test_ldaps_with_the_servers_ca(slapd: Slapd, ldap_credentials: LdapBind) -> None:
    config = {"url": slapd.ldaps_url, "base_dn": SUFFIX, "ca_certificate_pem": slapd.tls.ca_pem}
    async with connector(config, ldap_credentials) as c:
        result = await c.check()
        assert await usernames(c) == set(d.USERS)
    assert result.ok
    assert result.server_api_version == "3"  # from the root DSE's supportedLDAPVersion
    assert result.item(CheckName.API_VERSION).status is CheckStatus.PASSED


async def test_start_tls_with_the_servers_ca(slapd: Slapd, ldap_credentials: LdapBind) -> None:
    config = config_for(slapd, start_tls=True, ca_certificate_pem=slapd.tls.ca_pem)
    async with connector(config, ldap_credentials) as c:
        assert (await c.check()).ok
        assert await usernames(c) == set(d.USERS)


@pytest.mark.parametrize("mode", ["ldaps", "start_tls"])
async def test_an_untrusted_certificate_is_refused(
    slapd: Slapd, ldap_credentials: LdapBind, tmp_path: Any, mode: str
) -> None:
    other_ca = make_tls(tmp_path).ca_pem  # a CA that did not issue the server's certificate
    if mode == "ldaps":
        config = {"url": slapd.ldaps_url, "base_dn": SUFFIX, "ca_certificate_pem": other_ca}
    else:
        config = config_for(slapd, start_tls=True, ca_certificate_pem=other_ca)
    async with connector(config, ldap_credentials) as c:
        result = await c.check()
        with pytest.raises(NetworkError, match="TLS handshake failed"):
            await read_all(c, "users")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.FAILED
    assert "TLS" in (result.item(CheckName.REACHABLE).cause or "")


async def test_verification_can_be_turned_off_by_the_instance(
    slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    context = ConnectorContext(allow_loopback=True, verify_tls=False)
    async with connector({"url": slapd.ldaps_url, "base_dn": SUFFIX}, ldap_credentials,
                         context) as c:
        assert (await c.check()).ok


async def test_a_wrong_password_is_an_authentication_failure(
    slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-The-password-31"
    bad = build_auth("ldap_bind", {"bind_dn": SERVICE_DN, "password": wrong})
    assert isinstance(bad, LdapBind)
    caplog.set_level(logging.DEBUG)
    async with connector(config_for(slapd), bad) as c:
        result = await c.check()
        with pytest.raises(AuthenticationError) as caught:
            await read_all(c, "users")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.PASSED
    assert result.item(CheckName.AUTHENTICATED).status is CheckStatus.FAILED
    assert result.error_action is ErrorAction.REFRESH
    assert "invalid credentials" in caught.value.message
    assert wrong not in str(result.to_dict()) + caught.value.message + caplog.text


async def test_a_server_that_is_down_is_transient() -> None:
    config = {"url": f"ldap://127.0.0.1:{free_port()}", "base_dn": SUFFIX}
    async with connector(config, None) as c:
        result = await c.check()
        with pytest.raises(NetworkError):
            await read_all(c, "users")
    assert result.item(CheckName.REACHABLE).status is CheckStatus.FAILED
    assert result.error_action is ErrorAction.RETRY


async def test_a_restarted_server_is_transient_and_the_next_read_reconnects(
    fresh_slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    async with connector(config_for(fresh_slapd), ldap_credentials) as c:
        assert await usernames(c) == set(d.USERS)
        fresh_slapd.restart()  # the connector's connection is now dead
        with pytest.raises(NetworkError) as caught:
            await read_all(c, "users")
        assert caught.value.action is ErrorAction.RETRY
        assert await usernames(c) == set(d.USERS)  # the engine's retry, same instance


async def test_loopback_needs_the_instance_to_allow_it(
    slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    async with connector(config_for(slapd), ldap_credentials, ConnectorContext()) as c:
        with pytest.raises(BlockedAddressError):
            await read_all(c, "users")


async def test_an_account_that_sees_nothing_fails_the_permission_step(slapd: Slapd) -> None:
    # Anonymous binds work but the ACL gives them nothing to read.
    async with connector(config_for(slapd), None) as c:
        result = await c.check()
    assert result.item(CheckName.AUTHENTICATED).status is CheckStatus.PASSED
    permissions = result.item(CheckName.PERMISSIONS)
    assert permissions.status is CheckStatus.FAILED
    assert "sees no users" in (permissions.cause or "")


async def test_a_missing_search_base_is_a_config_error(
    slapd: Slapd, ldap_credentials: LdapBind
) -> None:
    config = config_for(slapd, user_base_dn=f"ou=nowhere,{SUFFIX}")
    async with connector(config, ldap_credentials) as c:
        with pytest.raises(ConfigError, match="search base does not exist or the service"):
            await read_all(c, "users")


@pytest.mark.parametrize(("config", "field"), [
    ({"url": "http://dir.example", "base_dn": SUFFIX}, "url"),
    ({"url": "ldap://dir.example:99999", "base_dn": SUFFIX}, "url"),
    ({"url": "ldap://dir.example", "base_dn": "example.org"}, "base_dn"),
    ({"url": "ldap://dir.example", "base_dn": SUFFIX, "user_filter": "objectClass=person"},
     "user_filter"),
    ({"url": "ldaps://dir.example", "base_dn": SUFFIX, "start_tls": True}, "(root)"),
    ({"url": "ldap://dir.example", "base_dn": SUFFIX, "page_size": 0}, "page_size"),
    ({"url": "ldap://dir.example", "base_dn": SUFFIX, "extra_attributes": ["ok", "no pe"]},
     "extra_attributes"),
])
def test_bad_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LdapConnector(config)
    assert field in [issue["field"] for issue in caught.value.issues]


def test_other_credentials_are_refused() -> None:
    basic = build_auth("aws", {"access_key_id": "AKIAIOSFODNN7EXAMPLE",
                               "secret_access_key": "x" * 40})
    with pytest.raises(ConfigError, match="bind DN and password"):
        LdapConnector({"url": "ldap://dir.example", "base_dn": SUFFIX}, credentials=basic)
