"""The sources file: the shipped list loads, every mistake is one error naming file, source and
field, and `archiver sources check` reports it with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.cli import main
from archiver.config import ConfigError, load_config

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "sources.toml"
GOOD = """
[archiver]
contact = "https://example.org/archive"
host_delay = 0

[[source]]
id = "un-news"
kind = "feed"
locator = "https://news.un.org/feed/subscribe/en/news/all/rss.xml"
schedule = "every 30m"
options = { follow_links = true }
verified = "test"
"""


def test_the_shipped_list_is_valid_and_honest_about_verification() -> None:
    config = load_config(SHIPPED)
    kinds = {source.kind for source in config.sources}
    assert {"feed", "webpage", "un_communications", "youtube"} <= kinds
    ids = {source.id for source in config.sources}
    assert {"un-news", "ohchr-sp-communications", "amnesty-news", "us-state-press", "white-house-news"} <= ids
    assert all(source.verified and "not verified online" in source.verified for source in config.sources)
    assert all(source.locator.startswith("https://") for source in config.sources)
    assert config.settings.respect_robots and config.settings.host_delay >= 1


@pytest.mark.parametrize(("mutation", "message"), [
    (('kind = "feed"', 'kind = "rss"'), "source #1 (un-news): field `kind`: unknown kind 'rss'"),
    (('locator = "https://news', 'locator = "ftp://news'), "source #1 (un-news): field `locator`: a feed source "
                                                           "needs an http(s) URL"),
    (('schedule = "every 30m"', 'schedule = "often"'), "source #1 (un-news): field `schedule`"),
    (("follow_links = true", 'follow_links = "yes"'), "source #1 (un-news): field `options`: option "
                                                     "`follow_links`: expected bool"),
    (("follow_links = true", "follow_link = true"), "field `options`: unknown option `follow_link`"),
    (('verified = "test"', "verified = 1"), "source #1 (un-news): field `verified`: must be a string"),
    (('id = "un-news"', 'id = "UN News"'), "field `id`: use lower-case letters"),
    (("host_delay = 0", "host_delay = -1"), "[archiver]: field `host_delay`: must be zero or more, got -1"),
    (("host_delay = 0", "workers = 0"), "[archiver]: field `workers`: must be above zero"),
    (("host_delay = 0", "colour = 1"), "[archiver]: unknown field `colour`"),
    (("host_delay = 0", 'verify_schedule = "weekly"'), "[archiver]: field `verify_schedule`: 'weekly': write "),
    (("host_delay = 0", 'verify_schedule = "cron: 99 * * * *"'), "field `verify_schedule`: 'cron: 99 * * * *': "
                                                                 "bad cron expression"),
    (("[[source]]", "[[source]]\nurl = 1"), "source #1 (un-news): unknown field `url`"),
])
def test_each_mistake_names_file_source_and_field(tmp_path: Path, mutation: tuple[str, str], message: str) -> None:
    path = tmp_path / "sources.toml"
    assert mutation[0] in GOOD
    path.write_text(GOOD.replace(*mutation), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_duplicate_ids_and_webpage_without_selectors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(GOOD + GOOD.split("[[source]]")[1].join(["[[source]]", ""]), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source #2 \(un-news\): field `id`: duplicate id"):
        load_config(path)
    path.write_text('[[source]]\nid = "party"\nkind = "webpage"\nlocator = "https://party.example/news"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source #1 \(party\): field `options`: option `item`: required"):
        load_config(path)


def test_sources_check_lists_every_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert "configuration valid" in result.output
    assert "un-news  feed  enabled  every 30m  https://news.un.org/feed/subscribe/en/news/all/rss.xml" in result.output
    assert "ohchr-sitemap  sitemap  disabled" in result.output


def test_sources_check_online_probes_each_enabled_source_without_writing(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, rss, write_config

    site = Site(httpserver)
    site.put("/rss.xml", rss([("g", site.url("/s/1"), "A statement", "Tue, 02 Jun 2026 14:30:00 GMT", "Text")]),
             "application/rss+xml")
    site.put("/moved.xml", b"<html><body>We have a new website</body></html>")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "good", "kind": "feed", "locator": site.url("/rss.xml")},
        {"id": "moved", "kind": "feed", "locator": site.url("/moved.xml")},
        {"id": "gone", "kind": "feed", "locator": site.url("/gone.xml")},
        {"id": "off", "kind": "feed", "locator": site.url("/off.xml"), "enabled": False}])
    db = tmp_path / "archive.db"
    result = CliRunner().invoke(main, ["sources", "check", "--online", "--config", str(config), "--db", str(db)])
    assert result.exit_code == 1
    assert "  good: ok HTTP 200, 1 post(s), 0 follow-up request(s)" in result.output
    assert f"  moved: FAILED {site.url('/moved.xml')}: HTTP 200: " in result.output
    assert "not a readable RSS/Atom feed" in result.output or "not an RSS or Atom feed" in result.output
    assert f"  gone: FAILED {site.url('/gone.xml')}: HTTP 404" in result.output
    assert "  off: skipped (disabled)" in result.output
    assert "/off.xml" not in site.hits
    assert "3 source(s) did not answer" not in result.output and "2 source(s) did not answer" in result.output
    assert not db.exists()  # a probe never writes the archive
