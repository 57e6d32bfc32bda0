"""Every real X archive and twarc2 file in the fixtures, of every shape, imported into one archive:
each file's tweets counted exactly, long posts complete, no HTML entity left in any stored text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from archiver.cli import main
from tests.conftest import FIXTURES, init_archive
from tests.social_loop import rows

ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+);")
# file -> tweets in it (distinct posts once edit chains are folded), as read from the files by hand
TWEETS = {
    "x_archive/tweets.js": 28,                   # an archive's tweets.js (28 tweets, 1 with `&amp;`)
    "x_archive/alrocar": 2,                      # tweets.js + note-tweet.js of an archive, 2 long posts
    "twarc2/edited.jsonl": 1,                    # a page: one edit chain of 2 tweets
    "twarc2/quoted_edit.jsonl": 1,               # a page: a quote of that chain
    "twarc2/media_tweet.jsonl": 1,               # a page with media
    "twarc2/streaming_output.jsonl": 7,          # stream lines: 8 tweets sent, one twice
    "twarc2/flat_first3.jsonl": 3,               # `twarc2 flatten` output
    "twarc2/entities_test_trimmed.jsonl": 2,     # a page, 1 tweet with `&amp;`
}


def test_every_real_file_counts_exactly_and_no_entity_survives(db_path: Path) -> None:
    init_archive(db_path)
    for name, expected in TWEETS.items():
        path = FIXTURES / name
        kind = "twarc" if name.startswith("twarc2/") else "x-archive"
        before = rows(db_path, "SELECT count(*) FROM posts")[0][0]
        result = CliRunner().invoke(main, ["import", kind, "--db", str(db_path), str(path)])
        # 1 only for the stream file, whose disconnect notice is named as an entry without tweets
        assert result.exit_code == (1 if "streaming" in name else 0), result.output
        added = rows(db_path, "SELECT count(*) FROM posts")[0][0] - before
        assert added == expected, (name, added)
    assert rows(db_path, "SELECT count(*) FROM posts") == [(sum(TWEETS.values()),)]
    texts = [text for (text,) in rows(db_path, "SELECT text FROM versions")]
    assert [t for t in texts if ENTITY.search(t or "")] == []
    notes = json.loads((FIXTURES / "x_archive/alrocar/note-tweet.js").read_text(encoding="utf-8").split("=", 1)[1])
    full = {entry["noteTweet"]["core"]["text"] for entry in notes}
    assert sum(text in full for text in texts) == 2  # both real long posts stored whole
