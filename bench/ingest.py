"""Benchmarks 1 and 2: ingesting new posts with full evidence, and re-polling where 90 % is unchanged,
each against plain sqlite3 doing the least work that keeps the same texts searchable, in the same run.

    python bench/ingest.py [--posts 200000] [--per-page 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archiver.archive import Archive, WriterThread
from archiver.models import Exchange, Observation, PostDraft, VersionDraft, utcnow

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


def record_pages(db: Path, work: list[tuple[Exchange, Observation]]) -> float:
    """The service's path: fetch threads hand each exchange to the one writer thread."""
    writer = WriterThread(db)
    started = time.perf_counter()
    # each exchange is prepared (digested, compressed) on the submitting thread, as the fetch threads do
    futures = []
    for exchange, observation in work:
        exchange.prepare()
        futures.append(writer.submit(lambda a, e=exchange, o=observation: a.record(e, o)))
    for future in futures:
        future.result()
    writer.close()
    return time.perf_counter() - started


LIMIT_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE posts (id INTEGER PRIMARY KEY, digest TEXT UNIQUE, text TEXT);
CREATE VIRTUAL TABLE posts_fts USING fts5 (text, content = 'posts', content_rowid = 'id');
CREATE TRIGGER posts_ai AFTER INSERT ON posts BEGIN
  INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;
"""


def limit_insert(db: Path, rows: list[tuple[str, str]], per_page: int) -> float:
    """Plain sqlite3: the same texts into a table with an FTS5 index kept by triggers, a unique
    digest per text, one transaction per feed page."""
    conn = sqlite3.connect(db, isolation_level=None)
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        conn.executescript(LIMIT_SCHEMA)
    started = time.perf_counter()
    for i in range(0, len(rows), per_page):
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO posts (digest, text) VALUES (?, ?)", rows[i:i + per_page])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def digested(texts: list[str]) -> list[tuple[str, str]]:
    return [(hashlib.sha256(t.encode()).hexdigest(), t) for t in texts]


def measure_once(texts: list[str], changed: list[str], per_page: int) -> dict[str, tuple[float, float]]:
    """(ours, limit) seconds of each benchmark, both sides on fresh files."""
    with tempfile.TemporaryDirectory() as tmp:
        ours_db, limit_db = Path(tmp) / "archive.db", Path(tmp) / "limit.db"
        Archive(ours_db, create=True).close()
        ours_new = record_pages(ours_db, exchanges(pages(texts, per_page)))
        limit_new = limit_insert(limit_db, digested(texts), per_page)
        ours_repoll = record_pages(ours_db, exchanges(pages(changed, per_page)))
        limit_repoll = limit_insert(limit_db, digested(changed), per_page)
    return {NEW: (ours_new, limit_new), REPOLL: (ours_repoll, limit_repoll)}


NEW, REPOLL = "1. ingest new posts, full evidence + FTS", "2. re-poll, 90 % unchanged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1,
                        help="Measure both sides this many times, interleaved, and report the run with the median "
                             "ratio (the machine's drift then weighs on both sides alike).")
    args = parser.parse_args()
    texts = make_texts(args.posts)
    changed = list(texts)
    rng = random.Random(2)
    for i in rng.sample(range(len(texts)), len(texts) // 10):
        changed[i] = texts[i] + " (updated)"
    runs = []
    for number in range(args.repeat):
        runs.append(measure_once(texts, changed, args.per_page))
        if args.repeat > 1:
            ratios = ", ".join(f"{name[:2]} {limit / ours:.2f}" for name, (ours, limit) in runs[-1].items())
            print(f"run {number + 1}: ratios {ratios}", flush=True)
    n = args.posts
    print(f"{'benchmark':<44}{'archiver rows/s':>16}{'sqlite3 rows/s':>16}{'ratio':>8}{'target':>8}")
    for name in (NEW, REPOLL):
        ours, limit = sorted((run[name] for run in runs), key=lambda pair: pair[1] / pair[0])[len(runs) // 2]
        ratio = limit / ours
        print(f"{name:<44}{n / ours:>16,.0f}{n / limit:>16,.0f}{ratio:>8.2f}{'≥ 0.50':>8}"
              f"  {'met' if ratio >= 0.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
