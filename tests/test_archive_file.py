"""The archive as a file on a small disk: the WAL stays bounded while writing, and the fetch layer
stands apart from the configuration (it can be used, and tested, without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from archiver.archive import Archive
from archiver.models import Exchange, utcnow


def test_the_wal_stays_bounded_while_writing(db_path: Path) -> None:
    wal = db_path.with_name(db_path.name + "-wal")
    largest = 0
    with Archive(db_path, create=True) as archive:
        for n in range(400):  # 400 × 40 KB of incompressible bodies: 16 MB through the WAL
            archive.record(Exchange(requested_url=f"https://example.org/{n}", method="GET", started_at=utcnow(),
                                    status=200, body=os.urandom(40_000)))
            largest = max(largest, wal.stat().st_size)
    assert db_path.stat().st_size > 16_000_000
    # checkpointed every 1000 pages (4 MB) and cut back to 4 MiB: never the whole history
    assert largest < 6 * 1024 * 1024, largest


def test_the_fetch_layer_does_not_import_the_configuration() -> None:
    # (the platforms package itself loads its modules lazily; only its Validators type is used here)
    code = ("import sys, archiver.fetch, archiver.fetch.settings; print(sorted(m for m in sys.modules if "
            "m == 'archiver.config' or m.startswith('archiver.platforms.') and m != 'archiver.platforms.memory'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
