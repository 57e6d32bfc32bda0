"""Parse time per feed: the feed reader's one lxml pass against feedparser, on the poll-cycle
benchmark's feeds (10 items of 60-140 words) and on the real GitHub releases feed of the tests.
Interleaved repeats, medians and spread.

    python bench/feed_parse.py [--feeds 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from poll_cycle import make_feed  # noqa: E402

from archiver.models import Exchange, Source  # noqa: E402
from archiver.platforms import feed  # noqa: E402
from archiver.platforms.xmldoc import refuse_entities  # noqa: E402

GITHUB = BENCH.parent / "tests" / "fixtures" / "real_feeds" / "github_releases_gulp.atom"


def _exchange(url: str, body: bytes) -> Exchange:
    return Exchange(requested_url=url, method="GET", started_at="2026-01-01T00:00:00.000000Z", final_url=url,
                    status=200, response_headers=[("Content-Type", "application/xml")], body=body)


def _with_feedparser(captured: Exchange, url: str):
    """The reading before the one pass: the entity check, feedparser, then lxml for the raw fragments."""
    refuse_entities(captured.body or b"", url)
    return feed.read_with_feedparser(captured, url)


def _posts(reader, source: Source, captured: Exchange, url: str) -> int:
    entries, version, _ = reader(captured, url)
    return len([feed.entry_post(source, entry, raw, version, url) for entry, raw in entries])


def _per_feed(reader, feeds: list[tuple[str, Exchange]]) -> float:
    source = Source(id="bench", kind="feed", locator=feeds[0][0])
    started = time.perf_counter()
    for url, captured in feeds:
        _posts(reader, source, captured, url)
    return (time.perf_counter() - started) / len(feeds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sets = {
        "bench feeds (10 items)": [(f"https://feeds.example/{i}.xml", _exchange(f"https://feeds.example/{i}.xml",
                                                                                 make_feed(i, 10)))
                                   for i in range(args.feeds)],
        "GitHub releases (10 entries)": [("https://github.com/gulpjs/gulp/releases.atom",
                                          _exchange("https://github.com/gulpjs/gulp/releases.atom",
                                                    GITHUB.read_bytes()))] * args.feeds,
    }
    readers = {"one lxml pass": feed.read_feed, "feedparser": _with_feedparser}
    for name, feeds in sets.items():
        times: dict[str, list[float]] = {reader: [] for reader in readers}
        for _ in range(args.repeat):
            for reader, read in readers.items():  # interleaved, so load drifts affect both
                times[reader].append(_per_feed(read, feeds))
        medians = {reader: statistics.median(values) for reader, values in times.items()}
        for reader, values in times.items():
            print(f"{name:30} {reader:14} median {medians[reader]:6.3f} ms/feed "
                  f"(spread {min(values):.3f}-{max(values):.3f}, {args.repeat} runs of {len(feeds)} feeds)")
        print(f"{name:30} feedparser / one pass: {medians['feedparser'] / medians['one lxml pass']:.1f}x")


if __name__ == "__main__":
    main()
