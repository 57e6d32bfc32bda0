"""The platforms kit: the post-kind rule defined once and used by every social parser, and no parser
reading the archive other than through `ArchiveMemory`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archiver.models import PostDraft, VersionDraft
from archiver.platforms.kinds import post_kind

PACKAGE = Path(__file__).resolve().parent.parent / "archiver"
PARSERS = [*sorted((PACKAGE / "platforms").glob("*.py")), *sorted((PACKAGE / "importers").glob("*.py"))]


def draft(**links: str) -> PostDraft:
    return PostDraft(platform="p", native_id="1", versions=[VersionDraft(text="t")], **links)


@pytest.mark.parametrize(("links", "reposted", "kind"), [
    ({}, False, "post"),
    ({"reply_to": "a"}, False, "reply"),
    ({"quote_of": "q", "reply_to": "a"}, False, "quote"),  # a reply that quotes is a quote everywhere
    ({"repost_of": "r", "quote_of": "q"}, False, "repost"),
    ({"reply_to": "a"}, True, "repost"),  # an archive's `RT @…` names no original
])
def test_the_post_kind_ladder(links: dict[str, str], reposted: bool, kind: str) -> None:
    assert post_kind(draft(**links), reposted=reposted) == kind


def test_every_parser_uses_the_one_rule_and_none_reads_the_archive_directly() -> None:
    ladder = re.compile(r"""["'](?:repost|quote|reply)["'][ \t]+if[ \t]""")
    reads_archive = re.compile(r"^\s*(?:from|import)\s+(?:archiver\.view|archiver\.database|sqlite3)\b", re.M)
    for path in PARSERS:
        source = path.read_text(encoding="utf-8")
        assert path.name == "kinds.py" or not ladder.search(source), f"{path.name} writes its own post-kind ladder"
        if path.parent.name == "platforms":
            assert not reads_archive.search(source), f"{path.name} reads the archive directly"
    users = {path.name for path in PARSERS if "post_kind(" in path.read_text(encoding="utf-8")}
    assert users >= {"bluesky.py", "mastodon.py", "telegram.py", "x.py", "x_archive.py"}
