"""The SSRF guard: refuse loopback, private, link-local and other non-public addresses before any
connection is made, unless the source (or the test configuration) allows them."""

from __future__ import annotations

import ipaddress
import socket


class AddressRefused(Exception):
    """The target resolves to an address the archiver may not contact; the message says which."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_host(host: str, port: int) -> None:
    """Raise AddressRefused if `host` is, or resolves to, any non-public address. Every address is
    checked, because the connection may use any of them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise AddressRefused(f"private address refused: {host} is {address} "
                                 "(allow_private is off for this source)")


def check_peer(address: str | None, host: str) -> None:
    """After connecting: the address actually used must be public too (DNS may change between the
    check and the connection)."""
    if address and not is_public(address):
        raise AddressRefused(f"private address refused: {host} connected to {address} "
                             "(allow_private is off for this source)")
