"""Benchmarks 1 and 2: ingesting new posts with full evidence, and re-polling where 90 % is unchanged,
each against the fastest plain-sqlite3 way of keeping the same texts searchable with the same durability
and commit size, measured in the same run.

    python bench/ingest.py [--posts 200000] [--per-page 50] [--repeat 5] [--rows FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from table import Row, median_run, print_table, save  # noqa: E402

from archiver.archive import Archive, WriterThread  # noqa: E402
from archiver.database import latest_version, migrated_schema  # noqa: E402
from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow  # noqa: E402

WORDS = ["inquiry", "statement", "minister", "rights", "council", "violation", "report", "investigation",
         "civilians", "government", "independent", "calls", "urges", "condemns", "deeply", "concerned",
         "allegations", "detention", "journalists", "protest", "humanitarian", "access", "ceasefire",
         "accountability", "transparency", "evidence", "witnesses"]


def make_texts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        size = rng.randint(1000, 3000)
        words: list[str] = [f"post{i}"]
        length = 0
        while length < size:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        texts.append(" ".join(words))
    return texts


def pages(texts: list[str], per_page: int) -> list[list[tuple[int, str]]]:
    numbered = list(enumerate(texts))
    return [numbered[i:i + per_page] for i in range(0, len(numbered), per_page)]


def exchanges(page_list: list[list[tuple[int, str]]]) -> list[tuple[Exchange, Observation]]:
    """One exchange per feed page and the posts parsed from it, built before timing starts."""
    built = []
    for number, page in enumerate(page_list):
        body = ("<rss>" + "".join(f"<item><guid>{i}</guid><description>{t}</description></item>"
                                  for i, t in page) + "</rss>").encode()
        exchange = Exchange(requested_url=f"https://example.org/feed?page={number}", method="GET",
                            started_at=utcnow(), ended_at=utcnow(), status=200, body=body,
                            content_type="application/rss+xml", charset="utf-8")
        posts = [PostDraft(platform="web", native_id=f"https://example.org/{i}", url=f"https://example.org/{i}",
                           author_handle="ministry", author_name="Ministry of Examples", extractor="bench",
                           versions=[VersionDraft(text=t, title=f"Statement {i}", raw=f"<item>{t}</item>")])
                 for i, t in page]
        built.append((exchange, Observation(posts=posts)))
    return built


def write_pages(writer: WriterThread, work: list[tuple[Exchange, Observation]]) -> None:
    """The service's path: each exchange prepared (digested, compressed) on the submitting thread, as the
    fetch threads do, and recorded by the one writer thread; returns once every page is committed."""
    futures = []
    for exchange, observation in work:
        exchange.prepare()
        futures.append(writer.submit(lambda a, e=exchange, o=observation: a.record(e, o)))
    for future in futures:
        future.result()


def record_pages(db: Path, work: list[tuple[Exchange, Observation]]) -> float:
    """Seconds to record `work` through a writer thread of its own, from when it has opened the archive:
    opening checks the whole file (quick_check), once per service start, not once per poll."""
    writer = WriterThread(db)
    writer.submit(lambda archive: None).result()
    started = time.perf_counter()
    write_pages(writer, work)
    writer.close()
    return time.perf_counter() - started


# The limit: plain sqlite3 storing the same texts searchable, with the archive's durability (WAL,
# synchronous NORMAL) and commit size, in the fastest of two ways measured in the same run: FTS5 kept by a
# trigger, or filled set-based with one INSERT … SELECT per transaction (faster: FTS5 merges one batch).
LIMIT_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE posts (id INTEGER PRIMARY KEY, digest TEXT UNIQUE, text TEXT);
CREATE VIRTUAL TABLE posts_fts USING fts5 (text, content = 'posts', content_rowid = 'id');
"""
TRIGGER = """CREATE TRIGGER IF NOT EXISTS posts_ai AFTER INSERT ON posts BEGIN
  INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;"""
LIMIT_WAYS = ("trigger", "set-based")
# the most pages the writer puts in one transaction: the limit commits at least as seldom as the archive
WRITER_BATCH = inspect.signature(WriterThread).parameters["batch"].default


def limit_insert(db: Path, rows: list[tuple[str, str]], commit_rows: int, way: str) -> float:
    """Plain sqlite3: the same texts into a table with a unique digest and an FTS5 index, `commit_rows`
    rows per transaction."""
    conn = sqlite3.connect(db, isolation_level=None)
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        conn.executescript(LIMIT_SCHEMA + (TRIGGER if way == "trigger" else ""))
    started = time.perf_counter()
    for i in range(0, len(rows), commit_rows):
        conn.execute("BEGIN")
        last = conn.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0]
        conn.executemany("INSERT OR IGNORE INTO posts (digest, text) VALUES (?, ?)", rows[i:i + commit_rows])
        if way == "set-based":
            conn.execute("INSERT INTO posts_fts (rowid, text) SELECT id, text FROM posts WHERE id > ?", (last,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


# The archive's own rows, written by plain sqlite3 (a diagnostic, not the limit): every row, index and
# search entry the archive's writer wrote, read back from its file beforehand and written again into the
# same schema at the same commit size, foreign keys unchecked, as the fastest plain way to store exactly
# what the archive stores. Ours against it is the cost of the writer's code; it against the limit is the
# cost of the evidence the archive keeps.
APPENDED = ("payloads", "captures", "posts", "versions", "events", "sightings", "post_seen", "chain")
POST_VIEW_UPDATE = "UPDATE posts SET title = ?, text = ?, version_count = ?, current_version = ? WHERE id = ?"


def archive_rows(db: Path, before: Path | None) -> dict[str, list[tuple[Any, ...]]]:
    """What the writer wrote into `db` since the state `before` (None: an empty archive): the rows it
    appended per table, and the post and sighting rows it rewrote."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    if before is not None:
        conn.execute("ATTACH ? AS old", (f"file:{before}?mode=ro",))
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table in APPENDED:
        key = {"payloads": "sha256", "post_seen": "post_id", "chain": "seq"}.get(table, "id")
        new = f"WHERE {key} NOT IN (SELECT {key} FROM old.{table})" if before is not None else ""
        rows[table] = conn.execute(f"SELECT * FROM {table} {new} ORDER BY rowid").fetchall()
    if before is not None:
        rows["post_seen_update"] = conn.execute(
            "SELECT last_seen_at, last_capture_id, post_id FROM post_seen WHERE last_capture_id > "
            "(SELECT max(id) FROM old.captures) ORDER BY post_id").fetchall()
        rows["posts_update"] = conn.execute(
            "SELECT title, text, version_count, current_version, id FROM posts WHERE current_version > "
            "(SELECT max(id) FROM old.versions) ORDER BY id").fetchall()
    conn.close()
    return rows


# each search index: the table it indexes and its columns, as the archive's migrations declare them
SEARCH_INDEXES = migrated_schema(latest_version()).search


def same_rows_write(db: Path, rows: dict[str, list[tuple[Any, ...]]], transactions: int) -> float:
    """Seconds for plain sqlite3 to write `rows` (archive_rows) into the archive file `db` (holding the
    state they were written onto) in `transactions` commits, each indexed for search set-based."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    inserts = {table: f"INSERT INTO {table} VALUES ({', '.join('?' * len(found[0]))})"
               for table, found in rows.items() if table in APPENDED and found}
    started = time.perf_counter()
    for part in range(transactions):
        def share(found: list[tuple[Any, ...]], part: int = part) -> list[tuple[Any, ...]]:
            return found[len(found) * part // transactions:len(found) * (part + 1) // transactions]
        conn.execute("BEGIN")
        first = {name: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
                 for name, (table, _, _) in SEARCH_INDEXES.items()}
        for table, insert in inserts.items():
            conn.executemany(insert, share(rows[table]))
        if changed := share(rows.get("posts_update", [])):
            columns = SEARCH_INDEXES["posts_fts"].columns
            ids = ", ".join(str(row[-1]) for row in changed)
            conn.execute(f"INSERT INTO posts_fts (posts_fts, rowid, {columns}) SELECT 'delete', id, {columns} "
                         f"FROM posts WHERE id IN ({ids})")
            conn.executemany(POST_VIEW_UPDATE, changed)
            conn.execute(f"INSERT INTO posts_fts (rowid, {columns}) SELECT id, {columns} FROM posts "
                         f"WHERE id IN ({ids})")
        conn.executemany("UPDATE post_seen SET last_seen_at = ?, last_capture_id = ? WHERE post_id = ?",
                         share(rows.get("post_seen_update", [])))
        for name, (table, columns, _) in SEARCH_INDEXES.items():
            conn.execute(f"INSERT INTO {name} (rowid, {columns}) SELECT id, {columns} FROM {table} WHERE id > ?",
                         (first[name],))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def digested(texts: list[str]) -> list[tuple[str, str]]:
    return [(hashlib.sha256(t.encode()).hexdigest(), t) for t in texts]


def measure_once(texts: list[str], changed: list[str], per_page: int) -> dict[str, tuple[float, float, str, float]]:
    """(ours, limit, the limit's way, the archive's own rows written plainly) seconds of each benchmark,
    every side on fresh files; the limit is the faster of its ways in this run."""
    commit_rows = per_page * WRITER_BATCH
    transactions = -(-len(texts) // commit_rows)
    with tempfile.TemporaryDirectory() as tmp:
        ours_db, after_new = Path(tmp) / "archive.db", Path(tmp) / "after-new.db"
        Archive(ours_db, create=True).close()
        ours_new = record_pages(ours_db, exchanges(pages(texts, per_page)))
        shutil.copy(ours_db, after_new)  # the writer checkpointed at close: the file holds every commit
        ours_repoll = record_pages(ours_db, exchanges(pages(changed, per_page)))
        same: dict[str, float] = {}
        for name, target, rows in ((NEW, Path(tmp) / "same-new.db", archive_rows(after_new, None)),
                                   (REPOLL, Path(tmp) / "same-repoll.db", archive_rows(ours_db, after_new))):
            if name == NEW:
                Archive(target, create=True).close()
            else:
                shutil.copy(after_new, target)
            same[name] = same_rows_write(target, rows, transactions)
            del rows
        limits: dict[str, list[tuple[float, str]]] = {NEW: [], REPOLL: []}
        for way in LIMIT_WAYS:
            limit_db = Path(tmp) / f"limit-{way}.db"
            limits[NEW].append((limit_insert(limit_db, digested(texts), commit_rows, way), way))
            limits[REPOLL].append((limit_insert(limit_db, digested(changed), commit_rows, way), way))
    return {NEW: (ours_new, *min(limits[NEW]), same[NEW]), REPOLL: (ours_repoll, *min(limits[REPOLL]), same[REPOLL])}


NEW, REPOLL = "1. ingest new posts, full evidence + FTS", "2. re-poll, 90 % unchanged"
TARGET = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5,
                        help="Measure every side this many times, interleaved, and report the run with the median "
                             "ratio and the ratios' spread (the machine's drift then weighs on all sides alike).")
    parser.add_argument("--rows", type=Path, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    texts = make_texts(args.posts)
    changed = list(texts)
    rng = random.Random(2)
    for i in rng.sample(range(len(texts)), len(texts) // 10):
        changed[i] = texts[i] + " (updated)"
    print(f"{args.posts:,} posts, {args.per_page} per page; the limit commits {args.per_page * WRITER_BATCH:,} rows "
          f"per transaction (the writer's largest batch, {WRITER_BATCH} pages)")
    runs = []
    for number in range(args.repeat):
        runs.append(measure_once(texts, changed, args.per_page))
        ratios = ", ".join(f"{name[:2]} {limit / ours:.2f} (limit {way}; own rows plainly {same / ours:.2f})"
                           for name, (ours, limit, way, same) in runs[-1].items())
        print(f"run {number + 1}: ratios {ratios}", flush=True)
    n = args.posts
    rows = []
    for name in (NEW, REPOLL):
        (ours, limit, _, _), spread = median_run([run[name] for run in runs], lambda r: r[1] / r[0])
        ratio = limit / ours
        rows.append(Row(name, f"{n / ours:,.0f} rows/s", f"{n / limit:,.0f} rows/s", ratio, f"≥ {TARGET:.2f}",
                        ratio >= TARGET, spread))
    print("where the gap is (medians): the archive's own rows written by plain sqlite3, against ours and "
          "against the limit")
    for name in (NEW, REPOLL):
        (ours, limit, _, same), spread = median_run([run[name] for run in runs], lambda r: r[3] / r[0])
        print(f"  {name:<44} own rows plainly / ours {same / ours:.2f} ({spread or '-'}), "
              f"limit / own rows plainly {limit / same:.2f}")
    print_table(rows)
    save(rows, args.rows)


if __name__ == "__main__":
    main()
