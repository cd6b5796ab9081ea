"""The outbound address guard: connectors never reach cloud metadata or link-local addresses.

A connector's base URL comes from an admin (or from a remote system's redirects and next-page
links), so without a guard it is a server-side request forgery tool: ``http://169.254.169.254/``
hands out the agent's cloud credentials. The guard works at two points so nothing slips by:

1. :class:`GuardedTransport` checks the URL of every request httpx sends through it, redirects
   included (httpx sends each hop through the transport). IP literals are refused before any
   packet leaves; host names are resolved and every address is checked.
2. :class:`GuardedResolver` resolves host names for the pooled transport (see :mod:`.lean`,
   or aiohttp's connector in :mod:`.transport`) and checks every address it returns; the
   transport connects only to those, so a DNS answer that changes between check and connect
   (rebinding) does not get through either.

Always refused: link-local (169.254.0.0/16, fe80::/10), cloud metadata endpoints
(fd00:ec2::254, 100.100.100.200, 192.0.0.192, 168.63.129.16), unspecified, multicast and
broadcast addresses. Loopback (127.0.0.0/8, ::1) is refused unless the instance allows it.
Private ranges stay allowed: on-premises systems live there.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from connectors.sdk.errors import BlockedAddressError
from connectors.sdk.http.lean import LeanTransport
from connectors.sdk.http.transport import AiohttpTransport

__all__ = [
    "ALWAYS_BLOCKED",
    "LOOPBACK",
    "POOLED_TRANSPORT",
    "AddressPolicy",
    "GuardedResolver",
    "GuardedTransport",
    "check_ip",
    "guarded_transport",
    "resolve_and_check",
]

#: The pooled transport :func:`guarded_transport` builds: ``"lean"`` (:mod:`.lean`, less CPU
#: per request) or ``"aiohttp"`` (:mod:`.transport`, the one before), for an A/B of the two;
#: the environment's ``ST_POOLED_TRANSPORT`` chooses at import (not a ``SIMPLETRUST_`` name:
#: the benchmarks' agents get none of those from their caller).
POOLED_TRANSPORT = os.environ.get("ST_POOLED_TRANSPORT", "lean")

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


class GuardedResolver(AbstractResolver):
    """A resolver (aiohttp's interface) that checks every address a name resolves to before
    any connection.

    The transport's connector connects only to the addresses returned here, so a DNS answer
    that changes between the request's check and the connect (rebinding) is checked too.
    Delegates to the system resolver (``getaddrinfo`` in a thread, as before: /etc/hosts and
    nsswitch apply, which on-premises names rely on), not to c-ares even where aiodns exists.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner  # made at the first name: aiohttp's binds to the running loop

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_ip(result["host"], self.policy)  # any forbidden address refuses the name
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request's destination (each redirect hop too) before ``inner`` sends it.

    ``connect_checked``: ``inner`` resolves host names only through :class:`GuardedResolver`,
    which checks every address before a connection is opened. Then a name is not resolved
    again before each request (a thread-pool hop and a DNS query per request, for a
    connection that is usually reused); address literals are refused here, early (the
    connector does not resolve them, so this is their only check).
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
    if isinstance(verify, str):  # a CA bundle (httpx deprecates passing its path)
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify, trust_env=False)


def guarded_transport(
    policy: AddressPolicy,
    *,
    inner: httpx.AsyncBaseTransport | None = None,
    limits: httpx.Limits | None = None,
    verify: bool | str | ssl.SSLContext = True,
) -> GuardedTransport:
    """A pooled transport that enforces ``policy`` before sending and again at connect time.

    Pass ``inner`` to guard a transport of your own (a test's ``MockTransport``); then only
    the pre-send check applies, since such a transport opens no sockets of ours. Failed
    connections are not retried here (the client's retry policy decides).
    """
    if inner is None:
        kind = AiohttpTransport if POOLED_TRANSPORT == "aiohttp" else LeanTransport
        pooled = kind(
            limits=limits or httpx.Limits(max_connections=10, max_keepalive_connections=5),
            # A context of the caller's own (mutual TLS) passes as is; settings share one.
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else _ssl_context(verify),
            resolver=GuardedResolver(policy),
        )
        return GuardedTransport(pooled, policy, connect_checked=True)
    return GuardedTransport(inner, policy)


def policy_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse extra blocked networks (e.g. from settings): ``["10.0.0.0/8"]``."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)
