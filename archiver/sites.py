"""Which web addresses are one site's, and which spellings one address has on it: the rules the owner
of a web post (archiver.archive) and the identity of a statement or feed item (archiver.platforms)
follow when a site moves.

A site is a host served on its scheme's default port, by http or https, with or without a leading
`www.`: sites move from http to https and between `www.host` and `host`, rewriting every link, and
neither move makes another publisher. Any other port is another server; any other host another site."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_of(url: str) -> str | None:
    """The site of an http(s) address on its scheme's default port (its host in lower case, without a
    leading `www.`), else None."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:  # not a port number: no address of any site
        return None
    host = parts.hostname
    if default is None or not host or (port or default) != default:
        return None
    return host[4:] if host.startswith("www.") and host.count(".") >= 2 else host


def other_spellings(url: str) -> list[str]:
    """The same address as the site's other origins write it (https first, the bare host first), with
    and without a trailing `/` (a CMS adding or dropping it redirects the one to the other), `url` itself
    left out: where the archive may already hold what `url` names. An address on another port keeps
    its server: only the other scheme (a page's canonical link may claim either) and the other path."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return []
    site = site_of(url)
    if site is None:
        hosts: tuple[str, ...] = (parts.netloc,)
    elif _is_address(site):
        hosts = (f"[{site}]" if ":" in site else site,)
    else:
        hosts = (site,) if site.startswith("www.") else (site, f"www.{site}")  # `www.gov` is the site
    path = parts.path
    paths = (path,) if path in ("", "/") else (path, path[:-1] if path.endswith("/") else f"{path}/")
    spellings = (urlunsplit((scheme, host, each, parts.query, parts.fragment))
                 for each in paths for scheme in ("https", "http") for host in hosts)
    return [spelling for spelling in spellings if spelling != url]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
