"""systemd's notify protocol (sd_notify(3)): the service says READY=1 once it is scheduling, WATCHDOG=1
while it is alive, STATUS=… for `systemctl status`, STOPPING=1 when it drains. Each is one datagram to
the unix socket named by $NOTIFY_SOCKET; without that variable (not under systemd) nothing is sent.

Written out rather than taken from the `sdnotify` package: the protocol is one sendto, and that package
(last released in 2017) hides send errors and does not read WATCHDOG_USEC, which the service needs to
pace its pings."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*assignments: str) -> bool:
    """Send `assignments` ("READY=1", "STATUS=…") to systemd; False when not run by systemd or the send
    failed (logged: the service goes on, it is only systemd that is not told)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(assignments).encode("utf-8"), address)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_seconds() -> float | None:
    """The watchdog period systemd expects pings within (WatchdogSec=), or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000
