"""An archive written by an older archiver is upgraded in place, never recreated."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.archive import Archive
from archiver.cli import main
from archiver.database import ArchiveError, connect, declared_schema, latest_version, migrated_schema
from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow
from archiver.verify import verify

V1 = Path(__file__).parent / "data" / "archive-v1.db"  # written by archiver at schema version 1


def test_a_version_1_archive_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    shutil.copy(V1, path)
    before = sqlite3.connect(path)
    assert before.execute("PRAGMA user_version").fetchone()[0] == 1
    counts = {t: before.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("captures", "payloads", "posts", "versions", "events", "chain", "runs")}
    head = before.execute("SELECT entry_sha256 FROM chain ORDER BY seq DESC LIMIT 1").fetchone()[0]
    before.close()

    result = CliRunner().invoke(main, ["init", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert f"upgraded {path} (schema version {latest_version()})" in result.output

    conn = connect(path, readonly=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version() > 1
    for table, n in counts.items():
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= n if table == "chain" else n, table
    texts = [r[0] for r in conn.execute("SELECT text FROM versions ORDER BY id")]
    assert texts == ["The ministry calls for calm.", "The ministry denies the report.",
                     "The ministry calls for calm and restraint."]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "runs_source_outcome" in indexes
    conn.close()
    report = verify(path)
    assert report.ok, report.problems
    # the old chain is kept as it was; the upgrade only appends (the sources and runs it held, now chained)
    conn = connect(path, readonly=True)
    assert conn.execute("SELECT entry_sha256 FROM chain WHERE seq = ?", (counts["chain"],)).fetchone()[0] == head
    conn.close()


def test_a_migrated_archive_keeps_growing_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    shutil.copy(V1, path)
    with Archive(path) as archive:
        result = archive.record(
            Exchange(requested_url="https://www.example.org/press/feed.xml", method="GET", started_at=utcnow(),
                     status=200, body=b"<rss>3</rss>"),
            Observation(posts=[PostDraft(platform="web", native_id="https://www.example.org/press/1",
                                         extractor="feed",  # the extractor that read the stored versions
                                         versions=[VersionDraft(text="Calm, restraint and dialogue.",
                                                                title="Statement 1")])]))
    assert result.edited == 1
    assert verify(path).ok


def test_an_old_archive_verifies_without_being_upgraded(tmp_path: Path) -> None:
    old = tmp_path / "backup-v1.db"
    shutil.copy(V1, old)
    report = verify(old)  # read-only: a backup is checked as it is
    assert report.ok, report.problems
    assert report.chain_entries > 0 and report.withheld == {}
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_snapshot_of_an_old_archive_is_made_at_the_current_schema(tmp_path: Path) -> None:
    from archiver.exports import snapshot

    old = tmp_path / "old.db"
    shutil.copy(V1, old)
    # a copy that withholds must be recorded in the original (a publication record), which an old schema
    # cannot hold: refused, the original untouched; a whole copy is made at the current schema
    with pytest.raises(ArchiveError, match="predates publication records"):
        snapshot(old, tmp_path / "withholding.db", without_payloads=True)
    assert not (tmp_path / "withholding.db").exists()
    assert snapshot(old, tmp_path / "copy.db") == {}
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone()[0] == 1  # the original is untouched
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA user_version").fetchone()[0] == latest_version()
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert verify(tmp_path / "copy.db").ok


def test_migration_stops_at_a_requested_version(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connect(path, create=True, upgrade_to=1).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    connect(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()


@pytest.mark.parametrize("version", range(1, latest_version() + 1))
def test_an_archive_at_each_schema_version_declares_what_its_migrations_declare(tmp_path: Path, version: int) -> None:
    # verify holds every file to the schema its migrations make at its version: an archive made there,
    # or upgraded to there step by step from version 1, must pass as it is
    made, upgraded = tmp_path / "made.db", tmp_path / "upgraded.db"
    connect(made, create=True, upgrade_to=version).close()
    connect(upgraded, create=True, upgrade_to=1).close()
    for step in range(2, version + 1):
        connect(upgraded, upgrade_to=step).close()
    for path in (made, upgraded):
        conn = sqlite3.connect(path)
        assert declared_schema(conn) == migrated_schema(version).objects
        conn.close()
        report = verify(path)
        assert report.ok and report.schema == version, report.problems
