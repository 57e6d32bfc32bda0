"""The SSRF guard: refuse loopback, private, link-local and every other non-global address, also
when it hides inside an IPv6 form (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), unless the
source (or the test configuration) allows private targets.

The check runs twice: once on the URL's host before its turn at the host is taken (a refusal is
then "not sent"), and again inside the connection itself (session.py), on the addresses it is
about to connect to and on the connected peer, before a byte is sent, so an answer that changes
between the two lookups (DNS rebinding) cannot reach a private service."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

Resolver = Callable[[str, int], list[str]]

# Special-purpose blocks that `is_global` lets through on some Python versions.
_ALWAYS_REFUSED = (ipaddress.ip_network("192.0.0.0/24"),)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressRefused(Exception):
    """The target resolves to an address the archiver may not contact; the message says which."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and a network would route to)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (deprecated, still routed by some stacks)
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and any(not is_public(str(v4)) for v4 in _embedded_ipv4(ip)):
        return False
    if any(ip in net for net in _ALWAYS_REFUSED if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def check_addresses(host: str, addresses: list[str]) -> None:
    """Raise AddressRefused unless every address is public: the connection may use any of them."""
    for address in addresses:
        if not is_public(address):
            raise AddressRefused(f"private address refused: {host} is {address} "
                                 "(allow_private is off for this hop)")


def resolve_checked(host: str, port: int, resolver: Resolver = system_resolver) -> list[str]:
    """`host`'s addresses, all of them public, or AddressRefused."""
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise AddressRefused(f"cannot resolve {host}: no address")
    check_addresses(host, addresses)
    return addresses


def is_loopback(host: str, resolver: Resolver = system_resolver) -> bool:
    """Whether `host` is, or resolves only to, loopback addresses (traffic that never leaves the machine)."""
    try:
        addresses = resolver(host, 0)
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
