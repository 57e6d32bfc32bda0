"""Whether the service is running, for `archiver status`: the service rewrites a small JSON file next to
the archive (ARCHIVE.service.json) every few seconds and marks it stopped when it stops. A file, not a
table: liveness is not evidence, must not enter the hash chain or a published copy, and a reader
(`status` on a read-only archive) never has to write."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from archiver.models import parse_time

# A heartbeat older than this many periods means the service is gone (killed, hung, host down).
STALE_AFTER = 3


def path_for(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".service.json")


@dataclass
class ServiceState:
    pid: int
    host: str
    started_at: str
    heartbeat_at: str
    period: float  # seconds between heartbeats
    stopped_at: str | None = None
    datasette: str | None = None  # what the served face is doing ("serving on …", "exited with code 1")
    status: str | None = None  # the service's own one-line summary (also sent to systemd)

    def running(self, now: dt.datetime | None = None) -> bool:
        if self.stopped_at is not None:
            return False
        now = now or dt.datetime.now(dt.UTC)
        if (now - parse_time(self.heartbeat_at)).total_seconds() > STALE_AFTER * self.period:
            return False
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:  # alive, under another user
                pass
        return True

    def describe(self, now: dt.datetime | None = None) -> str:
        """One line: "running since …" or "stopped since …" / "not running: last heartbeat …"."""
        if self.running(now):
            line = f"running since {_minute(self.started_at)} (pid {self.pid} on {self.host})"
            return line + (f"; Datasette {self.datasette}" if self.datasette else "")
        if self.stopped_at is not None:
            return f"stopped since {_minute(self.stopped_at)}"
        return (f"not running: last heartbeat {_minute(self.heartbeat_at)} (pid {self.pid} on {self.host}); "
                "it was killed or crashed")


def write(db_path: str | Path, state: ServiceState) -> None:
    """Replace the file whole (written aside, then renamed): a reader never sees half of it."""
    target = path_for(db_path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(asdict(state)), encoding="utf-8")
    partial.replace(target)


def read(db_path: str | Path) -> ServiceState | None:
    """The last state the service wrote, or None when it never ran on this archive (or the file is unreadable)."""
    try:
        data = json.loads(path_for(db_path).read_text(encoding="utf-8"))
        return ServiceState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _minute(timestamp: str) -> str:
    return timestamp[:16].replace("T", " ")
