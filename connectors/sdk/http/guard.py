"""The outbound address guard: connectors never reach cloud metadata or link-local addresses.

A connector's base URL comes from an admin (or from a remote system's redirects and next-page
links), so without a guard it is a server-side request forgery tool: ``http://169.254.169.254/``
hands out the agent's cloud credentials. The guard works at two points so nothing slips by:

1. :class:`GuardedTransport` checks the URL of every request httpx sends through it, redirects
   included (httpx sends each hop through the transport). IP literals are refused before any
   packet leaves; host names are resolved and every address is checked.
2. :class:`GuardedNetworkBackend` sits under httpcore's connection pool and checks the address
   it actually connects to, so a DNS answer that changes between check and connect (rebinding)
   does not get through either.

Always refused: link-local (169.254.0.0/16, fe80::/10), cloud metadata endpoints
(fd00:ec2::254, 100.100.100.200, 192.0.0.192, 168.63.129.16), unspecified, multicast and
broadcast addresses. Loopback (127.0.0.0/8, ::1) is refused unless the instance allows it.
Private ranges stay allowed: on-premises systems live there.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

from connectors.sdk.errors import BlockedAddressError

__all__ = [
    "ALWAYS_BLOCKED",
    "LOOPBACK",
    "AddressPolicy",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "check_ip",
    "guarded_transport",
    "resolve_and_check",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS_BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # IPv4 link-local, AWS/GCP/Azure/OpenStack metadata 169.254.169.254
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::/32",  # AWS IPv6 metadata (fd00:ec2::254) and DNS
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "168.63.129.16/32",  # Azure wire server
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches local services
        "::/128",  # unspecified
        "224.0.0.0/4",  # multicast
        "ff00::/8",  # IPv6 multicast
        "255.255.255.255/32",  # broadcast
    )
)
LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations an instance may reach. Built from the instance's options."""

    allow_loopback: bool = False
    extra_blocked: tuple[IPNetwork, ...] = field(default_factory=tuple)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped or NAT64 (64:ff9b::/96) IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def check_ip(address: str | IPAddress, policy: AddressPolicy) -> None:
    """Raise :class:`BlockedAddressError` if ``policy`` forbids connecting to ``address``."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    candidates = {ip, _embedded_ipv4(ip)}
    for candidate in candidates:
        for net in (*ALWAYS_BLOCKED, *policy.extra_blocked):
            if candidate.version == net.version and candidate in net:
                raise BlockedAddressError(
                    f"Connections to {candidate} are not allowed (link-local, cloud metadata "
                    "or otherwise reserved address)."
                )
        if not policy.allow_loopback:
            for net in LOOPBACK:
                if candidate.version == net.version and candidate in net:
                    raise BlockedAddressError(
                        f"Connections to the loopback address {candidate} are not allowed "
                        "for this instance.",
                        hint="Enable 'allow loopback' on the instance if the system really "
                        "runs on the agent's own machine.",
                    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_and_check(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if ANY of them is forbidden.

    Refusing on any (not only all) forbidden address stops a name that answers both a public
    and a metadata address from being used to reach the latter.
    """
    literal = _literal(host)
    if literal is not None:
        check_ip(literal, policy)
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"could not resolve host {host!r}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        check_ip(address, policy)
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that resolves, checks, and connects to the checked address only."""

    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_and_check(host, port, self.policy)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # addresses is never empty
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("Unix socket connections are not allowed for connectors.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request's destination (each redirect hop too) before ``inner`` sends it.

    ``connect_checked``: ``inner`` connects only through :class:`GuardedNetworkBackend`, which
    resolves and checks every host name when it opens a connection. Then a name is not
    resolved again before each request (a thread-pool hop and a DNS query per request, for a
    connection that is usually reused); address literals are still refused here, early.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: AddressPolicy, *,
                 connect_checked: bool = False) -> None:
        self._inner = inner
        self.policy = policy
        self.connect_checked = connect_checked
        self._allowed: set[str] = set()  # address literals this policy allows (never changes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise BlockedAddressError(f"Only http and https URLs are allowed, not {url.scheme!r}.")
        if not url.host:
            raise BlockedAddressError("The URL has no host.")
        if self.connect_checked:
            if url.host not in self._allowed:
                literal = _literal(url.host)
                if literal is not None:
                    check_ip(literal, self.policy)
                    self._allowed.add(url.host)
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            await resolve_and_check(url.host, port, self.policy)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.lru_cache(maxsize=16)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per ``verify`` setting: building one loads the CA bundle, which was the
    largest fixed cost of a sync in profiles (contexts are safe to share between clients)."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


def guarded_transport(
    policy: AddressPolicy,
    *,
    inner: httpx.AsyncBaseTransport | None = None,
    limits: httpx.Limits | None = None,
    verify: bool | str | ssl.SSLContext = True,
    retries: int = 0,
) -> GuardedTransport:
    """A pooled transport that enforces ``policy`` before sending and again at connect time.

    Pass ``inner`` to guard a transport of your own (a test's ``MockTransport``); then only
    the pre-send check applies, since such a transport opens no sockets of ours.
    """
    if inner is None:
        http = httpx.AsyncHTTPTransport(
            limits=limits or httpx.Limits(max_connections=10, max_keepalive_connections=5),
            # A context of the caller's own (mutual TLS) passes as is; settings share one.
            verify=verify if isinstance(verify, ssl.SSLContext) else _ssl_context(verify),
            retries=retries,
            trust_env=False,
        )
        return GuardedTransport(http, policy, connect_checked=_install_backend(http, policy))
    return GuardedTransport(inner, policy)


def _install_backend(transport: httpx.AsyncHTTPTransport, policy: AddressPolicy) -> bool:
    """Put :class:`GuardedNetworkBackend` under httpx's pool (httpx offers no public hook);
    False if this httpx version has no such place (then every request is resolved first)."""
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = GuardedNetworkBackend(policy)
        return True
    return False


def policy_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse extra blocked networks (e.g. from settings): ``["10.0.0.0/8"]``."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)
