"""`archiver verify` is a fixity tool: it reads what it checks exactly as it is (a snapshot and a backup
of an older schema keep their SHA-256, no file appears next to them), records its run only into a
live archive, and a corrupt, locked or read-only file is one line and its own exit code. The service
refuses to start writing into a corrupt archive, and its scheduled check of one is a FAILED line and a
failed verify run, not an exception in the scheduler."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.database import connect, latest_version
from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow
from archiver.service import Service

V1 = Path(__file__).parent / "data" / "archive-v1.db"
ROOT = Path(__file__).resolve().parent.parent


def archiver(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a separate process (optionally as another, unprivileged user)."""
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run([*prefix, sys.executable, "-m", "archiver", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd="/")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill(path: Path, n: int = 3) -> None:
    with Archive(path, create=True) as archive:
        for i in range(n):
            body = f"<rss>{i}</rss>".encode() + os.urandom(20_000).hex().encode()  # payloads of many pages
            archive.record(
                Exchange(requested_url=f"https://www.example.org/feed/{i}", method="GET", started_at=utcnow(),
                         status=200, body=body),
                Observation(posts=[PostDraft(platform="web", native_id=f"https://www.example.org/{i}",
                                             versions=[VersionDraft(text=f"Statement {i}.", title=f"T {i}")])]))


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "archive.db"
    fill(path)
    return path


def test_verify_leaves_a_snapshot_byte_for_byte_as_it_was(live: Path, tmp_path: Path) -> None:
    snap = tmp_path / "snap" / "public.db"
    snap.parent.mkdir()
    assert archiver("snapshot", "--db", str(live), str(snap), "--without-payloads").returncode == 0
    before, files = sha256(snap), sorted(snap.parent.iterdir())
    result = archiver("verify", "--db", str(snap))
    assert result.returncode == 0, result.stderr
    assert "published copy" in result.stdout and result.stdout.endswith("ok\n")
    assert sha256(snap) == before  # no WAL switch, no verify run recorded into a copy
    assert sorted(snap.parent.iterdir()) == files  # not even a -wal, -shm or -journal file appeared


def test_verify_leaves_a_schema_3_backup_as_it_was(tmp_path: Path) -> None:
    backup = tmp_path / "backup" / "archive-v3.db"
    backup.parent.mkdir()
    shutil.copy(V1, backup)
    connect(backup, upgrade_to=3).close()  # a backup written by the archiver of schema version 3
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == 3 < latest_version()
    before, files = sha256(backup), sorted(backup.parent.iterdir())
    result = archiver("verify", "--db", str(backup))
    assert result.returncode == 0, result.stderr
    assert sha256(backup) == before  # not migrated, not recorded into
    assert sorted(backup.parent.iterdir()) == files
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == 3


def test_verify_records_its_run_into_a_live_archive_only_when_asked(live: Path) -> None:
    def runs() -> int:
        return sqlite3.connect(live).execute("SELECT count(*) FROM runs WHERE kind = 'verify'").fetchone()[0]

    assert archiver("verify", "--db", str(live), "--no-record").returncode == 0
    assert runs() == 0
    assert archiver("verify", "--db", str(live)).returncode == 0
    assert runs() == 1


def corrupt_pages(path: Path, table: str) -> None:
    """Overwrite the pages holding `table` (its b-tree and overflow pages) with garbage."""
    conn = sqlite3.connect(path)
    pages = [row[0] for row in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert pages
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * size)
            file.write(b"\xa5" * size)


def test_a_corrupt_archive_is_one_line_and_exit_4(live: Path) -> None:
    corrupt_pages(live, "payloads")
    corrupt_pages(live, "runs")  # a table `status` reads
    for command in ("verify", "status"):
        result = archiver(command, "--db", str(live))
        assert result.returncode == 4, (command, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "corrupt" in result.stderr or "malformed" in result.stderr


def test_a_locked_archive_is_one_line_and_exit_3(live: Path, tmp_path: Path) -> None:
    snap = tmp_path / "copy.db"
    assert archiver("snapshot", "--db", str(live), str(snap)).returncode == 0
    holder = sqlite3.connect(snap, isolation_level=None)  # another process in the middle of writing it
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO source_state VALUES ('x', 'k', 'v', 'now')")
    try:
        result = archiver("verify", "--db", str(snap))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "locked" in result.stderr


@pytest.fixture
def unwritable() -> Iterator[tuple[Path, int | None]]:
    """A live archive its reader may not write: as root (who writes anything), checked as user nobody."""
    folder = Path(tempfile.mkdtemp(prefix="archiver-readonly-"))
    path = folder / "archive.db"
    fill(path)
    user = None
    if os.geteuid() == 0:
        user = 65534
        folder.chmod(0o755)
        path.chmod(0o644)
    else:
        path.chmod(0o444)
        folder.chmod(0o555)
    yield path, user
    folder.chmod(0o755)
    shutil.rmtree(folder)


def test_a_read_only_archive_is_checked_and_recording_into_it_is_exit_5(unwritable: tuple[Path, int | None]) -> None:
    path, user = unwritable
    before = sha256(path)
    checked = archiver("verify", "--db", str(path), "--no-record", user=user)
    assert checked.returncode == 0, checked.stderr  # checking needs no write
    result = archiver("verify", "--db", str(path), user=user)
    assert result.returncode == 5, (result.stdout, result.stderr)
    # the archive it was to write into is named first, then one line says why it could not
    assert result.stderr.strip().splitlines()[0] == f"archive: {path.resolve()}", result.stderr
    errors = result.stderr.strip().splitlines()[1:]
    assert len(errors) == 1 and "read-only" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(path) == before


def test_the_service_refuses_to_write_into_a_corrupt_archive(live: Path, tmp_path: Path) -> None:
    config = tmp_path / "sources.toml"
    config.write_text('[archiver]\ncontact = "https://example.org/tests"\n\n[[source]]\nid = "a"\nkind = "feed"\n'
                      'locator = "http://127.0.0.1:9/feed.xml"\n')
    corrupt_pages(live, "payloads")
    before = sha256(live)
    result = archiver("run", "--no-serve", "--db", str(live), "--config", str(config))
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FATAL" in lines[0] and "refusing to write into it" in lines[0], lines
    assert sha256(live) == before


def test_a_scheduled_check_of_a_corrupt_archive_is_a_failed_run(live: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "sources.toml"
    config.write_text('[archiver]\ncontact = "https://example.org/tests"\nverify_schedule = "off"\n')
    service = Service(config, live, serve=False)
    service.start()
    try:
        corrupt_pages(live, "payloads")  # damaged while the service runs: pages its writer does not touch
        with caplog.at_level(logging.ERROR, logger="archiver.service"):
            service._verify()  # what the scheduler calls on verify_schedule
    finally:
        service.stop()
    assert any(r.getMessage().startswith("fixity check FAILED: ") and "corrupt" in r.getMessage()
               for r in caplog.records), caplog.text
    failed = sqlite3.connect(live).execute("SELECT outcome, error FROM runs WHERE kind = 'verify'").fetchall()
    assert len(failed) == 1 and failed[0][0] == "failed" and "corrupt" in failed[0][1]


def test_a_snapshot_taken_while_the_archive_grows_withholds_what_came_after(live: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy is made without the write lock; what the writer appends meanwhile is chained in the copy
    too, its rows withheld, so the copy's chain runs on to the publication record."""
    from archiver import exports
    from archiver.verify import verify

    made = exports._copy

    def copy_then_write(db_path: Path, out_path: Path, progress: bool = False) -> None:
        made(db_path, out_path)
        fill_more = Exchange(requested_url="https://www.example.org/late", method="GET", started_at=utcnow(),
                             status=200, body=b"<rss>late</rss>")
        with Archive(db_path) as archive:  # the service writing while the copy is taken
            archive.record(fill_more, Observation(posts=[PostDraft(
                platform="web", native_id="https://www.example.org/late", versions=[VersionDraft(text="Late.")])]))

    monkeypatch.setattr(exports, "_copy", copy_then_write)
    withheld = exports.snapshot(live, tmp_path / "copy.db")
    assert withheld == {"captures": 1, "events": 1, "sightings": 1, "versions": 1}
    report = verify(tmp_path / "copy.db")
    assert report.ok, report.problems
    assert report.copy and report.head == verify(live).head
    reasons = sqlite3.connect(tmp_path / "copy.db").execute("SELECT DISTINCT reason FROM withheld").fetchall()
    assert reasons == [("written after this copy was taken",)]


def test_workers_verifying_a_live_archive_check_the_snapshot_verify_began_with(live: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker processes open their own connections after the main snapshot was taken: on a live archive
    the writer may have appended meanwhile. They check only the entries up to that snapshot's head (rows
    that every later snapshot holds unchanged), and the views are rebuilt on the main snapshot."""
    from archiver import verify as verifying

    with Archive(live) as writer:  # held open, as the service holds it: the file is live (its -wal exists)
        head = writer.conn.execute("SELECT seq, entry_sha256 FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        start_workers = verifying._Runner.__enter__

        def start_workers_then_write(runner: verifying._Runner) -> object:
            run = start_workers(runner)
            late = Exchange(requested_url="https://www.example.org/late", method="GET", started_at=utcnow(),
                            status=200, body=b"<rss>late</rss>")
            writer.record(late, Observation(posts=[PostDraft(  # committed before any worker reads
                platform="web", native_id="https://www.example.org/late", versions=[VersionDraft(text="Late.")])]))
            return run

        monkeypatch.setattr(verifying._Runner, "__enter__", start_workers_then_write)
        report = verifying.verify(live, jobs=2)
        monkeypatch.undo()
        assert report.ok, report.problems
        assert (report.head_seq, report.head) == tuple(head)
        assert verifying.verify(live, jobs=2).head_seq > head[0]  # the write did land after the snapshot
