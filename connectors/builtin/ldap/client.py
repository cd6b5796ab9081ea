"""A small asynchronous façade over ldap3: bind, paged search, error translation, TLS.

ldap3 is synchronous; every network call runs in a worker thread (``asyncio.to_thread``),
one at a time per connection (a lock), so the agent's event loop never blocks. Searches
always use the simple paged results control (RFC 2696), which is also how a server's size
limit is honoured: a directory that caps a plain search at 500 entries (AD's MaxPageSize,
OpenLDAP's ``olcSizeLimit``) returns any number of entries page by page.

Errors are translated in one place (:func:`ldap_errors`); messages name the server and the
operation, never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpcore

from connectors.builtin.ldap._ldap3 import (
    BASE,
    SUBTREE,
    Connection,
    Server,
    Tls,
    ldap_exceptions,
)
from connectors.builtin.ldap.config import LdapConfig
from connectors.builtin.ldap.entries import Entry
from connectors.sdk.auth.credentials import LdapBind
from connectors.sdk.context import ConnectorContext
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    NetworkError,
    PermissionDeniedError,
    RemoteError,
    RemoteServerError,
    RequestTimeoutError,
    TransientError,
)
from connectors.sdk.http.guard import resolve_and_check

__all__ = ["LdapClient", "SearchBaseError", "ldap_errors"]

PAGED_RESULTS = "1.2.840.113556.1.4.319"
RESULT_TIME_LIMIT_EXCEEDED = 3
RESULT_SIZE_LIMIT_EXCEEDED = 4
_E = ldap_exceptions


class SearchBaseError(ConfigError):
    """noSuchObject on a search base: it does not exist, or the account may not see it
    (directories hide what an account may not read)."""


class _ContextTls(Tls):  # type: ignore[misc]
    """ldap3's ``Tls`` with Python's own certificate and host name verification.

    ldap3 2.9 turns ``check_hostname`` off and calls the deprecated ``ssl.match_hostname``;
    this wraps the socket with a standard ``SSLContext`` (``check_hostname=True`` when
    verifying, IP address SANs supported) instead.
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        super().__init__(validate=context.verify_mode)
        self._context = context
        self._server_hostname = server_hostname

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._server_hostname,
        )


def ssl_context(config: LdapConfig, verify: bool | str) -> ssl.SSLContext:
    """The TLS context: the config's CA (else the system's), or no verification if the
    instance turned it off (``verify_tls=False``)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = verify if isinstance(verify, str) else None
    try:
        return ssl.create_default_context(cafile=cafile, cadata=config.ca_certificate_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            "ca_certificate_pem: the CA certificate could not be loaded "
            f"({getattr(exc, 'reason', None) or 'not PEM'}).",
            hint="Paste the CA certificate that issued the directory's certificate, in PEM.",
            issues=[{"field": "ca_certificate_pem", "message": "cannot be loaded"}],
        ) from None


@contextlib.contextmanager
def ldap_errors(where: str, operation: str) -> Iterator[None]:
    """Translate ldap3 and socket exceptions into SDK errors (one place, no secrets)."""
    try:
        yield
    except ConnectorError:
        raise
    except _E.LDAPInvalidCredentialsResult:
        raise AuthenticationError(
            f"{where} refused the bind: invalid credentials.",
            hint="Check the bind DN and password of the service account (and that it is "
            "not locked or expired).",
        ) from None
    except (_E.LDAPInsufficientAccessRightsResult, _E.LDAPAuthorizationDeniedResult):
        raise PermissionDeniedError(
            f"{where}: the service account may not {operation}.",
            hint="Grant the bind DN read access to the users, groups and OUs being synced.",
        ) from None
    except (_E.LDAPStrongerAuthRequiredResult, _E.LDAPConfidentialityRequiredResult):
        raise ConfigError(
            f"{where} requires an encrypted connection to {operation}.",
            hint="Use an ldaps:// URL or enable StartTLS.",
        ) from None
    except (_E.LDAPInappropriateAuthenticationResult, _E.LDAPUnwillingToPerformResult):
        raise AuthenticationError(
            f"{where} refused to {operation} with these credentials.",
            hint="Anonymous or unauthenticated binds are disabled: give a bind DN and password.",
        ) from None
    except _E.LDAPSizeLimitExceededResult:
        raise RemoteError(
            f"{where}: the size limit was exceeded while trying to {operation}, even with "
            "paged results.",
            hint="Allow paged results beyond the size limit for the service account "
            "(OpenLDAP: olcLimits size.prtotal=unlimited; AD: MaxPageSize), or narrow the "
            "search base or filter.",
        ) from None
    except _E.LDAPNoSuchObjectResult:
        raise SearchBaseError(
            f"{where}: the search base does not exist or the service account may not see it "
            f"({operation}).",
            hint="Check base_dn and the user/group/OU search bases, and that the bind DN may "
            "read them.",
        ) from None
    except (_E.LDAPInvalidFilterError, _E.LDAPInvalidDnError, _E.LDAPInvalidDNSyntaxResult):
        raise ConfigError(
            f"{where}: invalid filter or DN ({operation}).",
            hint="Check the configured filters and DNs.",
        ) from None
    except (_E.LDAPStartTLSError, _E.LDAPCertificateError, ssl.SSLError) as exc:
        raise NetworkError(
            f"{where}: the TLS handshake failed ({type(exc).__name__}).",
            hint="Check the CA certificate, that the server's certificate names this host, "
            "and that the server offers TLS on this port.",
        ) from None
    except (_E.LDAPResponseTimeoutError, TimeoutError):
        raise RequestTimeoutError(f"{where} did not answer in time ({operation}).") from None
    except (_E.LDAPBusyResult, _E.LDAPUnavailableResult, _E.LDAPAdminLimitExceededResult,
            _E.LDAPTimeLimitExceededResult, _E.LDAPOtherResult) as exc:
        raise RemoteServerError(
            f"{where} could not {operation} right now ({exc.description})."
        ) from None
    except (_E.LDAPCommunicationError, httpcore.ConnectError, OSError) as exc:
        raise NetworkError(
            f"{where} could not be reached ({type(exc).__name__}).",
        ) from None
    except _E.LDAPOperationResult as exc:
        raise RemoteError(f"{where} refused to {operation} ({exc.description}).") from None
    except _E.LDAPException as exc:
        raise RemoteError(f"{where}: {operation} failed ({type(exc).__name__}).") from None


class LdapClient:
    """One bound connection to the directory, opened on first use."""

    def __init__(
        self, config: LdapConfig, credentials: LdapBind | None, context: ConnectorContext
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.context = context
        self.where = f"{'ldaps' if config.use_ssl else 'ldap'}://{config.host}:{config.port}"
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    async def connect(self) -> None:
        """Resolve (through the address guard), connect, StartTLS if asked, bind."""
        if self._connection is not None:
            return
        with ldap_errors(self.where, "connect"):
            await resolve_and_check(self.config.host, self.config.port, self.context.address_policy)
        await asyncio.to_thread(self._connect_sync)

    def _connect_sync(self) -> None:
        with self._lock:
            if self._connection is not None:
                return
            # ldap3 packs the receive timeout into SO_RCVTIMEO as whole seconds.
            timeout = max(1, math.ceil(self.context.http_timeout))
            needs_tls = self.config.use_ssl or self.config.start_tls
            tls = (
                _ContextTls(ssl_context(self.config, self.context.verify_tls), self.config.host)
                if needs_tls
                else None
            )
            server = Server(
                self.config.host,
                port=self.config.port,
                use_ssl=self.config.use_ssl,
                tls=tls,
                get_info="NO_INFO",
                connect_timeout=timeout,
            )
            user = self.credentials.bind_dn if self.credentials else None
            password = self.credentials.password.get_secret_value() if self.credentials else None
            connection = Connection(
                server,
                user=user,
                password=password,
                auto_bind="NONE",
                read_only=True,
                raise_exceptions=True,
                receive_timeout=timeout,
                auto_referrals=False,
                return_empty_attributes=False,
            )
            try:
                with ldap_errors(self.where, "connect"):
                    connection.open()
                if self.config.start_tls:
                    with ldap_errors(self.where, "start TLS"):
                        connection.start_tls()
                with ldap_errors(self.where, "bind"):
                    connection.bind()
            except ConnectorError:
                with contextlib.suppress(_E.LDAPException, OSError):
                    connection.unbind()
                raise
            self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(self._unbind, connection)

    def _unbind(self, connection: Connection) -> None:
        with self._lock, contextlib.suppress(_E.LDAPException, OSError):
            connection.unbind()

    async def whoami(self) -> str | None:
        """The authorization identity (RFC 4532 Who am I?), if the server supports it."""
        await self.connect()

        def call() -> str | None:
            with self._lock, ldap_errors(self.where, "run Who am I?"):
                assert self._connection is not None
                try:
                    value = self._connection.extend.standard.who_am_i()
                except _E.LDAPOperationResult:
                    return None
                return str(value) if value else None

        return await asyncio.to_thread(call)

    async def root_dse(self, attributes: Sequence[str]) -> Entry | None:
        """The server's root DSE (RFC 4512 §5.1), or None if it may not be read."""
        await self.connect()

        def call() -> Entry | None:
            with self._lock, ldap_errors(self.where, "read the root DSE"):
                assert self._connection is not None
                try:
                    self._connection.search("", "(objectClass=*)", search_scope=BASE,
                                            attributes=list(attributes))
                except (_E.LDAPNoSuchObjectResult, _E.LDAPInsufficientAccessRightsResult):
                    return None
                found = [r for r in self._connection.response or []
                         if r.get("type") == "searchResEntry"]
                return Entry("", _decoded(found[0])) if found else None

        return await asyncio.to_thread(call)

    async def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        what: str,
        page_size: int,
        size_limit: int = 0,
    ) -> AsyncIterator[list[Entry]]:
        """Yield the entries of a subtree search, one page at a time."""
        await self.connect()
        cookie: bytes | None = None
        operation = f"search {what} under {base}"
        seen_cookies: set[bytes] = set()
        while True:
            try:
                page, cookie = await asyncio.to_thread(
                    self._page, base, search_filter, list(attributes), page_size, cookie,
                    operation, size_limit,
                )
            except TransientError:
                await self.close()  # the next attempt reconnects instead of reusing a dead socket
                raise
            yield page
            if not cookie or size_limit:
                return
            if cookie in seen_cookies:
                raise RemoteError(
                    f"{self.where} returned the same page cookie twice ({operation})."
                )
            seen_cookies.add(cookie)

    def _page(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        page_size: int,
        cookie: bytes | None,
        operation: str,
        size_limit: int,
    ) -> tuple[list[Entry], bytes | None]:
        with self._lock, ldap_errors(self.where, operation):
            connection = self._connection
            if connection is None:
                raise NetworkError(f"{self.where}: the connection was closed.")
            connection.search(
                base,
                search_filter,
                search_scope=SUBTREE,
                attributes=attributes,
                paged_size=page_size,
                paged_cookie=cookie,
                size_limit=size_limit,
            )
            # ldap3 does not raise for these two: a silently truncated result would look
            # like deletions to the engine.
            code = connection.result.get("result")
            if code == RESULT_SIZE_LIMIT_EXCEEDED and not size_limit:
                raise _E.LDAPSizeLimitExceededResult(result=code, description="sizeLimitExceeded")
            if code == RESULT_TIME_LIMIT_EXCEEDED:
                raise _E.LDAPTimeLimitExceededResult(result=code, description="timeLimitExceeded")
            entries = [
                Entry(item["dn"], _decoded(item))
                for item in connection.response or []
                if item.get("type") == "searchResEntry"
            ]
            control = (connection.result.get("controls") or {}).get(PAGED_RESULTS) or {}
            next_cookie = (control.get("value") or {}).get("cookie") or None
            return entries, next_cookie


BINARY_ATTRIBUTES = frozenset({"objectguid", "objectsid", "msexchmailboxguid"})


def _decoded(item: dict[str, Any]) -> dict[str, list[Any]]:
    """Attribute values as text where they are UTF-8, as bytes where binary (objectGUID)."""
    out: dict[str, list[Any]] = {}
    for name, raw_values in item.get("raw_attributes", {}).items():
        values: list[Any] = []
        binary = name.split(";", 1)[0].lower() in BINARY_ATTRIBUTES
        for raw in raw_values:
            if isinstance(raw, bytes) and not binary:
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    values.append(raw)
            else:
                values.append(raw)
        out[name] = values
    return out
