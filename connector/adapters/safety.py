"""SSRF guard for network sources.

A URL is accepted when its scheme is http or https, it carries no credentials, and every
address its host resolves to is public (``is_global``, not multicast, not a cloud metadata
address), after unwrapping IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms. The operator
allow-list (``CONNECTOR_SOURCE_ALLOWLIST``: comma-separated host names, addresses or CIDRs,
or an explicit ``allowlist`` argument) admits hosts or address ranges that would otherwise
be refused. The checked addresses are returned so the caller connects to exactly those
(no second DNS lookup, so no DNS rebinding); the caller checks again after each redirect.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.adapters.errors import SourceNotFound, SourceRefused, TransientSourceError

ALLOWLIST_ENV = "CONNECTOR_SOURCE_ALLOWLIST"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Instance metadata services: AWS/GCP/Azure/OpenStack, AWS IPv6, AWS ECS, Alibaba, Oracle.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Allowlist:
    """Host names and networks the operator admits although they are not public."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Allowlist:
        """The allow-list in ``CONNECTOR_SOURCE_ALLOWLIST`` (empty when unset)."""
        raw = (os.environ if environ is None else environ).get(ALLOWLIST_ENV, "")
        return cls(raw.split(","))

    @classmethod
    def of(cls, allowlist: Allowlist | Iterable[str] | None) -> Allowlist:
        """``allowlist`` as given, or the environment's when None."""
        if allowlist is None:
            return cls.from_env()
        return allowlist if isinstance(allowlist, Allowlist) else cls(allowlist)

    def admits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


def _embedded(address: IPAddress) -> list[IPAddress]:
    """``address`` and any IPv4 address it embeds (mapped, 6to4, Teredo, NAT64)."""
    out: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            out.append(address.ipv4_mapped)
        if address.sixtofour:
            out.append(address.sixtofour)
        if address.teredo:
            out.extend(address.teredo)
        if address in _NAT64:
            out.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [*out, address]  # the embedded address first: its reason is the telling one


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public source address, or None when it is."""
    for candidate in _embedded(address):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        for reason, test in (("loopback", candidate.is_loopback), ("link-local", candidate.is_link_local),
                             ("multicast", candidate.is_multicast), ("unspecified", candidate.is_unspecified),
                             ("private", candidate.is_private), ("reserved", candidate.is_reserved)):
            if test:
                return f"a {reason} address"
        if not candidate.is_global:
            return "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to ``addresses`` (in order), send ``Host: host``."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, allowlist: Allowlist, *, resolver: Resolver = system_resolver,
              schemes: tuple[str, ...] = ("http", "https")) -> Target:
    """Resolve and check ``url``; :class:`SourceRefused` names the rule that refuses it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceRefused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise SourceRefused(f"the {scheme or 'empty'!r} scheme is not allowed here "
                            f"(allowed: {', '.join(schemes)})", scheme=scheme)
    if parts.username is not None or parts.password is not None:
        raise SourceRefused("credentials in source URLs are not accepted; configure them on the server")
    host = parts.hostname
    if not host:
        raise SourceRefused(f"no host in {scheme}:// URL")
    port = port or (443 if scheme in ("https", "ckan+https", "ckan") else 80)
    host_allowed = allowlist.admits_host(host)
    try:
        addresses = resolver(host, port)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN,):
            raise TransientSourceError(f"{host}: name resolution failed for now: {exc}") from exc
        raise SourceNotFound(f"{host}: cannot resolve the host name: {exc.strerror or exc}") from exc
    if not addresses:
        raise SourceNotFound(f"{host}: the host name has no addresses")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if host_allowed or allowlist.admits_address(address):
            continue
        reason = refusal(address)
        if reason:
            raise SourceRefused(
                f"{host} resolves to {address}, {reason}; refused unless the operator allow-list "
                f"({ALLOWLIST_ENV}) names it", host=host, address=str(address))
    return Target(url, scheme, host, port, tuple(addresses))
