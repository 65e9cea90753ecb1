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
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.adapters.errors import SourceNotFound, SourceRefused, TransientSourceError
from connector.config import host_or_network

ALLOWLIST_ENV = "CONNECTOR_SOURCE_ALLOWLIST"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Instance metadata services: AWS/GCP/Azure/OpenStack, AWS IPv6, AWS ECS, Alibaba, Oracle.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192"))
# Kinds an allow-listed host NAME never reaches: only a CIDR that lies inside the block does.
NEVER_BY_NAME = frozenset({"metadata", "link-local", "unspecified", "multicast", "broadcast"})
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


@dataclass(frozen=True)
class Block:
    """One special-purpose block. ``kind`` says why it is refused (``None``: admitted, being
    globally reachable and ordinary unicast); ``embeds``: the IPv4 address inside decides."""

    network: IPNetwork
    name: str
    source: str
    kind: str | None
    embeds: bool = False


def _block(cidr: str, name: str, source: str, kind: str | None, embeds: bool = False) -> Block:
    return Block(ipaddress.ip_network(cidr), name, source, kind, embeds)


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (iana.org/assignments/
# iana-ipv4-special-registry and iana-ipv6-special-registry, as updated 2025-05), plus the
# blocks they leave to other registries: IPv4 multicast, IPv6 site-local (RFC 3879) and
# IPv6 multicast. A block the registry marks globally reachable is admitted, except where
# the comment says why not. Python's ``ipaddress`` flags miss several of these (fec0::/10,
# 3fff::/20, 5f00::/16, 100:0:0:1::/64 on 3.11), which is why the table exists.
SPECIAL_BLOCKS: tuple[Block, ...] = (
    _block("0.0.0.0/8", '"This network"', "RFC 791", "unspecified"),
    _block("0.0.0.0/32", '"This host on this network"', "RFC 1122", "unspecified"),
    _block("10.0.0.0/8", "Private-Use", "RFC 1918", "private"),
    _block("100.64.0.0/10", "Shared Address Space", "RFC 6598", "shared (carrier-grade NAT)"),
    _block("127.0.0.0/8", "Loopback", "RFC 1122", "loopback"),
    _block("169.254.0.0/16", "Link Local", "RFC 3927", "link-local"),
    _block("172.16.0.0/12", "Private-Use", "RFC 1918", "private"),
    _block("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", "reserved"),
    _block("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", "reserved"),
    _block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", "reserved"),
    _block("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", None),
    _block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", None),
    _block("192.0.0.170/31", "NAT64/DNS64 Discovery", "RFC 8880", "reserved"),
    _block("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", "documentation"),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535", None),
    _block("192.52.193.0/24", "AMT", "RFC 7450", None),
    # Deprecated 6to4 relay anycast: whatever answers there is not who the URL names.
    _block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", "deprecated relay"),
    _block("192.168.0.0/16", "Private-Use", "RFC 1918", "private"),
    _block("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", None),
    _block("198.18.0.0/15", "Benchmarking", "RFC 2544", "benchmarking"),
    _block("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", "documentation"),
    _block("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", "documentation"),
    _block("224.0.0.0/4", "Multicast (IANA IPv4 Multicast Address Space Registry)", "RFC 5771",
           "multicast"),
    _block("240.0.0.0/4", "Reserved", "RFC 1112", "reserved"),
    _block("255.255.255.255/32", "Limited Broadcast", "RFC 919", "broadcast"),
    _block("::1/128", "Loopback Address", "RFC 4291", "loopback"),
    _block("::/128", "Unspecified Address", "RFC 4291", "unspecified"),
    _block("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", None, embeds=True),
    _block("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", None, embeds=True),
    _block("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215", "private"),
    _block("100::/64", "Discard-Only Address Block", "RFC 6666", "reserved"),
    _block("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", "reserved"),
    _block("2001::/23", "IETF Protocol Assignments", "RFC 2928", "reserved"),
    # Teredo tunnels to whichever host the embedded client address names: refused outright.
    _block("2001::/32", "TEREDO", "RFC 4380", "tunnel"),
    _block("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", None),
    _block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", None),
    _block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", None),
    _block("2001:2::/48", "Benchmarking", "RFC 5180", "benchmarking"),
    _block("2001:3::/32", "AMT", "RFC 7450", None),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535", None),
    _block("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", "reserved"),
    # ORCHIDv2 and DETs are identifiers, not locators: no data source lives there.
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343", "identifier, not a locator"),
    _block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374",
           "identifier, not a locator"),
    _block("2001:db8::/32", "Documentation", "RFC 3849", "documentation"),
    _block("2002::/16", "6to4", "RFC 3056", None, embeds=True),
    _block("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", None),
    _block("3fff::/20", "Documentation", "RFC 9637", "documentation"),
    _block("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", "reserved"),
    _block("fc00::/7", "Unique-Local", "RFC 4193", "private"),
    _block("fe80::/10", "Link-Local Unicast", "RFC 4291", "link-local"),
    _block("fec0::/10", "Site-Local (deprecated; IANA IPv6 Address Space Registry)", "RFC 3879",
           "private"),
    _block("ff00::/8", "Multicast (IANA IPv6 Address Space Registry)", "RFC 4291", "multicast"),
)

Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Allowlist:
    """Host names and networks the operator admits although they are not public.

    An entry that is neither a host name, an address nor a CIDR is a ValueError."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in entries:
            if not entry.strip():
                continue
            parsed = host_or_network(entry)
            if isinstance(parsed, str):
                self.hosts.add(parsed)
            else:
                self.networks.append(parsed)

    @classmethod
    def of(cls, allowlist: Allowlist | Iterable[str] | None) -> Allowlist:
        """``allowlist`` as given (the ``SOURCE_ALLOWLIST`` setting, passed in), empty when None."""
        if allowlist is None:
            return cls()
        return allowlist if isinstance(allowlist, Allowlist) else cls(allowlist)

    def admits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def admits_address(self, address: IPAddress) -> bool:
        """True when a CIDR admits ``address``. An address of a kind no name may reach
        (metadata, link-local, ...) is admitted only by a CIDR inside its own block or by the
        address itself, so ``0.0.0.0/0`` or ``100.64.0.0/10`` never opens a metadata service."""
        block = special_block(address)
        metadata = address in METADATA_ADDRESSES
        strict = metadata or (block is not None and block.kind in NEVER_BY_NAME)
        return any(address in network and (
            not strict or network.num_addresses == 1
            or (block is not None and block.kind in NEVER_BY_NAME and _inside(network, block)))
            for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


def _inside(network: IPNetwork, block: Block) -> bool:
    return network.version == block.network.version and network.subnet_of(block.network)  # type: ignore[arg-type]


def special_block(address: IPAddress) -> Block | None:
    """The most specific special-purpose block holding ``address``, or None."""
    found = [block for block in SPECIAL_BLOCKS
             if block.network.version == address.version and address in block.network]
    return max(found, key=lambda block: block.network.prefixlen, default=None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[IPAddress]:
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if address.sixtofour:
        return [address.sixtofour]
    return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]  # NAT64 (64:ff9b::/96)


def _refusal(address: IPAddress) -> tuple[str, str] | None:
    """(kind, reason) for a refused address, or None when it is public."""
    if address in METADATA_ADDRESSES:
        return "metadata", "a cloud metadata address"
    block = special_block(address)
    if block is not None and block.embeds and isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            found = _refusal(inner)
            if found:
                return found[0], f"{found[1]}, embedded in {block.network} ({block.name})"
        return None
    if block is not None and block.kind is not None:
        article = "an" if block.kind[0] in "aeiou" else "a"
        return block.kind, (f"{article} {block.kind} address ({block.network} "
                            f"{block.name}, {block.source})")
    if block is None and isinstance(address, ipaddress.IPv6Address) \
            and address not in _IPV6_GLOBAL_UNICAST:
        return "reserved", "not a public address (outside the IPv6 global unicast space 2000::/3)"
    if block is None and not address.is_global:  # a backstop; the table should have said
        return "reserved", "not a public address"
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public source address, or None when it is."""
    found = _refusal(address)
    return found[1] if found else None


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
    named = allowlist.admits_host(host)
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
        if allowlist.admits_address(address):
            continue
        found = _refusal(address)
        if found is None:
            continue
        kind, reason = found
        if named and kind not in NEVER_BY_NAME:
            continue  # the operator vouches for this name on a private network
        hint = (f"an allow-listed name never reaches {kind} addresses; only a CIDR inside "
                "that block admits them" if named else
                f"refused unless the operator allow-list ({ALLOWLIST_ENV}) names it")
        raise SourceRefused(f"{host} resolves to {address}, {reason}; {hint}",
                            host=host, address=str(address))
    return Target(url, scheme, host, port, tuple(addresses))
