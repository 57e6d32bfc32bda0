"""Shared fixtures: real archive files in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.view import ArchiveView

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # copied from shared/fixtures; licences in SOURCES.txt


def init_archive(path: Path) -> Path:
    """`archiver init` before a command that writes (no command but init creates an archive)."""
    if not Path(path).exists():
        Archive(path, create=True).close()
    return Path(path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


@pytest.fixture
def archive(db_path: Path):
    with Archive(db_path, create=True) as opened:
        yield opened


@pytest.fixture
def view(db_path: Path):
    """A read view of a new, empty archive at db_path (what parsers get during a run)."""
    Archive(db_path, create=True).close()
    opened = ArchiveView(db_path)
    yield opened
    opened.close()
