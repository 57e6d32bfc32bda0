"""The fetch layer's own settings: what the Fetcher needs, with the defaults the service uses. The
configuration builds them (config.Settings extends this), so fetch/ never imports the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# allow_private: False (public addresses only), True (any hop may be private), or "first_hop" (the
# configured URL may be private, a redirect from it may not)
PrivateAccess = bool | Literal["first_hop"]


@dataclass
class FetchSettings:
    contact: str = "https://github.com/archiver/archiver"  # goes into the User-Agent
    workers: int = 8  # threads sharing the session: its connection pool size
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0  # total seconds for one request, body included, counted from when it is sent
    max_body: int = 50 * 1024 * 1024
    max_redirects: int = 10
    retries: int = 3
    retry_after_cap: float = 120.0  # longer Retry-After → "not before T" for the host
    host_delay: float = 1.0  # minimum seconds between requests to one host
    respect_robots: bool = True
    allow_private: PrivateAccess = False  # loopback/private/link-local targets (tests and intranets)
    secrets_file: str | None = None
    ca_file: str | None = None  # PEM certificate authorities trusted instead of the bundled ones


def private_allowed(setting: object, hop: int) -> bool:
    """Whether hop `hop` (0: the URL asked for, 1..: redirects) may reach a non-public address."""
    if setting == "first_hop":
        return hop == 0
    return setting is True
