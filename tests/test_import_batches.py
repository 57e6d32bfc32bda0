"""The X archive import read in a second process and written at the writer's batch path: every row, id
and chain entry exactly as reading in the writer's own process gives them, whatever the batch size; a bad
entry mid-file still gives its partial or failed run with what was read before it written and nothing
inferred."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archiver.archive import Archive
from archiver.cli import main
from archiver.importers import filecapture, x_archive
from archiver.importers.filecapture import ImportFailed
from archiver.importers.reader import ReadInProcess, pack, unpack
from archiver.importers.x_archive import import_x_archive
from archiver.models import Gone, Observation, PostDraft, VersionDraft
from archiver.verify import verify
from tests.conftest import FIXTURES, init_archive
from tests.social_loop import rows
from tests.test_import_x_archive import account_files

REAL = FIXTURES / "x_archive" / "tweets.js"
CLOCK = "2026-01-02T03:04:05.000000Z"


def real_entries() -> list[dict[str, Any]]:
    return json.loads(REAL.read_text(encoding="utf-8").split("=", 1)[1])


def ytd(entries: list[Any]) -> str:
    return "window.YTD.tweets.part0 = " + json.dumps(entries, indent=2)


def dump(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (full-text shadow tables aside: they follow posts and versions)."""
    conn = sqlite3.connect(db_path)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {table: sorted(conn.execute(f"SELECT * FROM {table}"), key=repr) for table in tables}
    finally:
        conn.close()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One time for everything an import writes, so two imports can be compared row for row."""
    for module in ("archiver.archive", "archiver.importers.filecapture"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: CLOCK)


def three_imports(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A real tweets.js in two overlapping parts, as two archives of one account taken at different times:
    the second holds ten tweets of the first (one of them with its text re-read differently) and eight
    new ones (the last listed twice), so its batches mix new posts with posts the archive holds. Then an
    archive with parts, an edit chain, a deleted tweet and a note tweet."""
    entries = real_entries()
    first, second = entries[:20], [*entries[10:], entries[27]]
    second[3] = json.loads(json.dumps(second[3]))
    second[3]["tweet"]["full_text"] += " (as re-read)"
    a, b = tmp_path / "first" / "tweets.js", tmp_path / "second" / "tweets.js"
    for path, part in ((a, first), (b, second)):
        path.parent.mkdir()
        path.write_text(ytd(part), encoding="utf-8")
    folder = tmp_path / "third"
    for name, text in account_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return a, b, folder


def import_all(db_path: Path, files: tuple[Path, ...]) -> None:
    with Archive(init_archive(db_path)) as archive:
        for path in files:
            import_x_archive(archive, path, progress=False)


class ReadHere:
    """The import's reading done in the importing process itself, the writer digesting every version."""

    def __init__(self, produce: Any, problems: list[str]) -> None:
        self.produce, self.problems = produce, problems

    def __enter__(self) -> Iterator[tuple[int, Observation]]:
        return filecapture.batches(self.produce(self.problems, lambda n: None))

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.usefixtures("fixed_clock")
def test_reading_in_a_second_process_writes_every_row_and_chain_entry_as_reading_in_the_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = three_imports(tmp_path)
    monkeypatch.setattr(filecapture, "BATCH", 4)
    import_all(tmp_path / "batched.db", files)
    with monkeypatch.context() as patched:
        patched.setattr(x_archive, "ReadInProcess", ReadHere)
        import_all(tmp_path / "single.db", files)
    batched, single = dump(tmp_path / "batched.db"), dump(tmp_path / "single.db")
    assert batched == single
    assert len(batched["posts"]) == 28 + 4 and len(batched["versions"]) == 29 + 5
    assert sorted(row[2] for row in batched["events"] if row[2] != "first_seen") == ["deleted", "edited", "edited"]
    assert len(batched["sightings"]) == 5 + 5 + 1  # 20 tweets in batches of 4, then 19 entries, then 4 posts
    report = verify(tmp_path / "batched.db")
    assert report.ok, report.problems


@pytest.mark.usefixtures("fixed_clock")
def test_many_batches_give_the_posts_versions_and_events_of_one(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = three_imports(tmp_path)
    found = {}
    for name, size in (("many", 3), ("one", 10_000)):
        monkeypatch.setattr(filecapture, "BATCH", size)
        import_all(tmp_path / f"{name}.db", files)
        found[name] = dump(tmp_path / f"{name}.db")
    many, one = found["many"], found["one"]
    for table in ("posts", "versions", "events", "post_seen", "captures"):
        assert many[table] == one[table], table
    # the chain differs only by the one sighting row each batch adds
    chained = "SELECT table_name, row_id, row_sha256 FROM chain WHERE table_name != 'sightings' ORDER BY seq"
    assert rows(tmp_path / "many.db", chained) == rows(tmp_path / "one.db", chained)
    assert (len(many["sightings"]), len(one["sightings"])) == (7 + 7 + 2, 3)
    counted = "SELECT outcome, n_captures, n_new, n_edited, n_deleted FROM runs ORDER BY id"
    assert rows(tmp_path / "many.db", counted) == rows(tmp_path / "one.db", counted) == [
        ("ok", 1, 20, 0, 0), ("ok", 1, 8, 1, 0), ("ok", 1, 4, 1, 1)]


def entry(index: int) -> dict[str, Any]:
    """The real archive's first tweet as tweet `index` of an account."""
    made = json.loads(json.dumps(real_entries()[0]))
    made["tweet"]["id_str"] = made["tweet"]["id"] = str(1_600_000_000_000_000_000 + index)
    made["tweet"]["edit_info"] = {"initial": {"editTweetIds": [made["tweet"]["id_str"]]}}
    return made


def tweets_with(bad: str, count: int = 20, at: int = 11) -> str:
    """`count` tweets with entry `at` replaced by `bad` (the raw text of one entry)."""
    parts = [bad if index == at else json.dumps(entry(index)) for index in range(1, count + 1)]
    return "window.YTD.tweets.part0 = [\n" + ",\n".join(parts) + "\n]"


def imported_ids(db_path: Path) -> list[int]:
    return [int(native) - 1_600_000_000_000_000_000 for (native,) in rows(db_path, "SELECT native_id FROM posts "
                                                                                  "ORDER BY id")]


def test_a_malformed_tweet_mid_file_is_skipped_and_the_run_partial(db_path: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filecapture, "BATCH", 3)
    path = tmp_path / "tweets.js"
    path.write_text(tweets_with('{"tweet": {"id_str": "12x", "full_text": "no id"}}'), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "x-archive", "--db", str(init_archive(db_path)), str(path)])
    assert result.exit_code == 1
    assert "imported 19 posts" in result.output
    assert "skipped: tweets.js: entry 11: `id_str` missing or not numeric" in result.output
    assert imported_ids(db_path) == [i for i in range(1, 21) if i != 11]
    outcome, error, n_new = rows(db_path, "SELECT outcome, error, n_new FROM runs")[0]
    assert (outcome, n_new) == ("partial", 19) and "entry 11" in error
    assert rows(db_path, "SELECT DISTINCT type FROM events") == [("first_seen",)]


def test_broken_json_mid_file_fails_the_run_keeping_what_was_read_before(db_path: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filecapture, "BATCH", 3)
    path = tmp_path / "tweets.js"
    path.write_text(tweets_with('{"tweet": {"id_str": "1", "full_text": "cut'), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "x-archive", "--db", str(init_archive(db_path)), str(path)])
    assert result.exit_code == 2
    said = result.output.splitlines()[-1]
    assert said.startswith("archiver: error: tweets.js: entry 11: invalid or truncated JSON at character")
    assert "Traceback" not in result.output
    # every tweet before the break (the last three in a batch not yet full), none after it
    assert imported_ids(db_path) == list(range(1, 11))
    outcome, error = rows(db_path, "SELECT outcome, error FROM runs")[0]
    assert outcome == "failed" and "entry 11" in error
    assert rows(db_path, "SELECT DISTINCT type FROM events") == [("first_seen",)]  # nothing inferred gone


def test_importing_again_after_a_broken_file_completes_it(db_path: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filecapture, "BATCH", 3)
    path = tmp_path / "tweets.js"
    path.write_text(tweets_with('{"tweet": {"id_str": "1", "full_text": "cut'), encoding="utf-8")
    CliRunner().invoke(main, ["import", "x-archive", "--db", str(init_archive(db_path)), str(path)])
    path.write_text(tweets_with(json.dumps(entry(11))), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "x-archive", "--db", str(db_path), str(path)])
    assert result.exit_code == 0, result.output
    assert "(10 new, 0 edited, 0 deleted)" in result.output
    assert sorted(imported_ids(db_path)) == list(range(1, 21))
    assert rows(db_path, "SELECT count(*) FROM versions") == [(20,)]


def _posts_then_exit(problems: list[str], advance: Any) -> Iterator[Observation]:
    yield Observation(posts=[PostDraft("x", "1", [VersionDraft(text="read")])])
    os._exit(3)  # the reader killed mid-file (out of memory, a signal): it sends nothing more


def test_a_reader_that_dies_fails_the_import_instead_of_hanging() -> None:
    problems: list[str] = []
    ended = r"reader process ended without finishing \(exit code 3\)"
    with pytest.raises(ImportFailed, match=ended), ReadInProcess(_posts_then_exit, problems) as read:
        list(read)


def test_the_writer_stopping_ends_the_reader() -> None:
    problems: list[str] = []
    reader = ReadInProcess(lambda problems, advance: iter_forever(), problems)
    with pytest.raises(RuntimeError, match="writer failed"), reader as read:
        next(read)
        raise RuntimeError("writer failed")
    assert not reader._process.is_alive() and reader._process.exitcode is not None


def iter_forever() -> Iterator[Observation]:
    """More than the queue holds: the reader blocks on it until the writer takes a batch, or ends."""
    number = 0
    while True:
        number += 1
        yield Observation(posts=[PostDraft("x", str(number), [VersionDraft(text="again")])])


KILLED_IMPORTER = """
import sys
from archiver.importers.reader import ReadInProcess, pack, unpack
from tests.test_import_batches import iter_forever
reader = ReadInProcess(lambda problems, advance: iter_forever(), [])
with reader as read:
    next(read)
    print(reader._process.pid, flush=True)
    sys.stdin.read()  # until killed
"""


def ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has ended; reaping it is its new parent's business


def test_a_killed_import_leaves_no_reader_behind() -> None:
    importer = subprocess.Popen([sys.executable, "-c", KILLED_IMPORTER], cwd=Path(__file__).parent.parent,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reader = int(importer.stdout.readline())  # type: ignore[union-attr]
        assert not ended(reader)
    finally:
        importer.kill()
        importer.wait()
    deadline = time.monotonic() + 60  # a bound for a hang, not a timing: it ends within a POLL or two
    while not ended(reader) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = not ended(reader)
    if left:
        os.kill(reader, signal.SIGKILL)
    assert not left


def test_a_batch_reaches_the_writer_with_every_field_of_every_post() -> None:
    version = VersionDraft(text="text", title="title", extra={"id": "7"}, raw='{"tweet": {}}',
                           claimed_at="2023-09-05T10:00:00.000000Z", content_sha256="ab" * 32)
    post = PostDraft(platform="x", native_id="7", versions=[version, VersionDraft(text="second")], url="u",
                     author_id="a", author_handle="h", author_name="n", kind="reply", published_at="p",
                     published_raw="r", published_where="w", language="en", reply_to="1", quote_of="2",
                     repost_of="3", media=[{"type": "photo"}], tags=["t"], publish=False, extractor="e",
                     extractor_version="9")
    batch = Observation(posts=[post], gone=[Gone("x", "8", True, "listed")], state={"k": "v"})
    received = pickle.loads(pickle.dumps(pack(batch)))  # as the queue carries it
    assert unpack(received) == batch
    assert [v.content_sha256 for v in unpack(received).posts[0].versions] == ["ab" * 32, None]
    assert {f.name for f in dataclasses.fields(PostDraft)} == {*vars(unpack(received).posts[0])}
