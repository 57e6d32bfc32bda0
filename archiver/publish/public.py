"""Serving a published copy to the public, as the archive should be read at scale: the snapshot opened
immutable (no change checks, no locks) with its table counts inspected once instead of counted on
every page, in several Datasette processes that share one port (uvicorn's workers), ready to sit behind
a caching proxy (deploy/nginx-archiver-public.conf). The live archive is never served this way: an
immutable open of a file that is still being written returns wrong results."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from archiver.database import ArchiveError, connect
from archiver.publish.server import default_config_dir, metadata_file

SNAPSHOT_ENV = "ARCHIVER_PUBLIC_DB"  # the uvicorn workers' factory reads the snapshot's path from here
CONFIG_ENV = "ARCHIVER_PUBLIC_CONFIG"


def inspect_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".inspect.json")


def inspected(snapshot: Path) -> Path:
    """`datasette inspect` of the snapshot (its table counts), made once and kept beside it; made again
    when the snapshot is newer than it."""
    found = inspect_path(snapshot)
    if not found.exists() or found.stat().st_mtime < snapshot.stat().st_mtime:
        done = subprocess.run([sys.executable, "-m", "datasette", "inspect", str(snapshot), "--inspect-file",
                               str(found)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ArchiveError(f"cannot inspect {snapshot}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return found


def check_snapshot(snapshot: Path) -> None:
    """Refuse what is not a finished copy: a missing or foreign file, or a live archive (WAL mode, or a
    -wal file beside it, means something may still write it)."""
    conn = connect(snapshot, readonly=True)  # a missing or foreign file fails here, in one line
    try:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    if journal == "wal" or snapshot.with_name(snapshot.name + "-wal").exists():
        raise ArchiveError(f"{snapshot} is a live archive (WAL mode): serve it with `archiver serve`, or "
                           "publish a copy made by `archiver snapshot` with --public")


def app() -> Any:
    """The ASGI app of one worker (uvicorn --factory): Datasette on the immutable snapshot."""
    from datasette.app import Datasette
    from datasette.utils import parse_metadata

    snapshot = Path(os.environ[SNAPSHOT_ENV])
    metadata = metadata_file(Path(os.environ.get(CONFIG_ENV) or default_config_dir()))
    return Datasette(immutables=[str(snapshot)],
                     inspect_data=json.loads(inspect_path(snapshot).read_text(encoding="utf-8")),
                     metadata=parse_metadata(metadata.read_text(encoding="utf-8")) if metadata else None).app()


def serve_public(snapshot: str | Path, host: str = "127.0.0.1", port: int = 8001, *, processes: int = 2,
                 config_dir: str | Path | None = None) -> None:
    """Serve the snapshot with `processes` Datasette workers on one port (uvicorn's supervisor) until stopped."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    snapshot = Path(snapshot).resolve()
    check_snapshot(snapshot)
    inspected(snapshot)
    os.environ[SNAPSHOT_ENV] = str(snapshot)
    if config_dir is not None:
        os.environ[CONFIG_ENV] = str(Path(config_dir).resolve())
    config = uvicorn.Config(f"{__name__}:app", factory=True, host=host, port=port, workers=processes,
                            access_log=False)
    Multiprocess(config, sockets=[listening_socket(config)]).run()


def listening_socket(config: Any) -> socket.socket:
    """The port uvicorn's workers share, bound as uvicorn binds it but saying it is TCP. uvicorn binds with
    proto 0, and asyncio turns Nagle's algorithm off (TCP_NODELAY) only on accepted sockets that say
    IPPROTO_TCP: without this every keep-alive answer of a few kB waited for the reader's delayed ACK, about
    40 ms (uvicorn issue 3149)."""
    bound = config.bind_socket()
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
