"""The sources file: the shipped list loads; every mistake of a file is reported in one run, each as
FILE:LINE naming source and field; `archiver sources check` prints them all with exit 2; schedules
take the obvious spellings; `archiver run` refuses the placeholder contact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.cli import main
from archiver.config import ConfigError, load_config
from archiver.schedule import ScheduleError, parse_schedule

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


def test_the_shipped_social_examples_are_commented_out_and_valid_once_uncommented(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert {"bluesky", "mastodon", "telegram", "x"}.isdisjoint(s.kind for s in load_config(SHIPPED).sources)
    uncommented = re.sub(r"^# (\[\[source\]\]|[a-z_]+ = .*)$", r"\1", text, flags=re.MULTILINE)
    path = tmp_path / "sources.toml"
    path.write_text(uncommented, encoding="utf-8")
    social = {s.kind: s for s in load_config(path).sources if s.id.startswith("example-")}
    assert set(social) == {"bluesky", "mastodon", "telegram", "x"}


# One file per class of mistake, each class present twice (in two sources, or twice in one), so every
# test shows that ALL mistakes of a file come out of one load. `# <-` marks the line each error must name.
MISTAKES = {
    "unknown option": ("""
[[source]]
id = "a"
kind = "feed"
locator = "https://a.example/rss"
options = { follow_links = true, follow_link = true }  # <- unknown option `follow_link` for kind feed

[[source]]
id = "b"
kind = "bluesky"
locator = "un.org"
[source.options]
max_pages = 2
api_bse = "https://api.example"  # <- unknown option `api_bse` for kind bluesky
"""),
    "wrong type": ("""
[[source]]
id = "a"
kind = "mastodon"
locator = "@un@mastodon.social"
options = { allow_private = "false" }  # <- expected true, false or "first_hop", got the string "false"

[[source]]
id = "b"
kind = "feed"
locator = "https://b.example/rss"
options = { follow_links = "yes" }  # <- option `follow_links`: expected true or false, got the string "yes"
enabled = "no"  # <- field `enabled`: must be true or false
"""),
    "out of bounds": ("""
[archiver]
contact = "mailto:archive@example.org"
workers = 0  # <- [archiver]: field `workers`: 0 is out of bounds: expected integer, 1–256
host_delay = -1  # <- [archiver]: field `host_delay`: -1 is out of bounds

[[source]]
id = "a"
kind = "feed"
locator = "https://a.example/rss"
options = { max_requests = -5 }  # <- option `max_requests`: -5 is out of bounds: expected integer, 1–10000

[[source]]
id = "b"
kind = "bluesky"
locator = "un.org"
options = { run_deadline = 0 }  # <- option `run_deadline`: 0 is out of bounds
[[source]]
id = "c"
kind = "bluesky"
locator = "un.org"
options = { limit = 500 }  # <- option `limit`: 500 is out of bounds: expected integer, 1–100
"""),
    "bad regex": ("""
[[source]]
id = "a"
kind = "sitemap"
locator = "https://a.example/sitemap.xml"
options = { include = "/en/(press" }  # <- option `include`: not a regular expression: missing )

[[source]]
id = "b"
kind = "sitemap"
locator = "https://b.example/sitemap.xml"
options = { exclude = "[a-" }  # <- option `exclude`: not a regular expression
"""),
    "catastrophic regex": ("""
[[source]]
id = "a"
kind = "sitemap"
locator = "https://a.example/sitemap.xml"
options = { include = '^(/?[a-z]+)+\\.pdf$' }  # <- refused: a repeated group holds a variable-length repeat

[[source]]
id = "b"
kind = "sitemap"
locator = "https://b.example/sitemap.xml"
options = { exclude = ".*.*pdf" }  # <- option `exclude`: ".*.*pdf" refused: two adjacent repeats
"""),
    "bad schedule": ("""
[[source]]
id = "a"
kind = "feed"
locator = "https://a.example/rss"
schedule = "every 30 minuts"  # <- field `schedule`: 'every 30 minuts': did you mean `every 30m`?

[[source]]
id = "b"
kind = "feed"
locator = "https://b.example/rss"
schedule = "0 */6 * * *"  # <- field `schedule`: '0 */6 * * *': did you mean `cron: 0 */6 * * *`?
"""),
    "duplicate id": ("""
[[source]]
id = "a"
kind = "feed"
locator = "https://a.example/rss"

[[source]]
id = "a"  # <- source #2 (a): field `id`: duplicate id
kind = "feed"
locator = "https://b.example/rss"

[[source]]
id = "a"  # <- source #3 (a): field `id`: duplicate id
kind = "feed"
locator = "https://c.example/rss"
schedule = "often"  # <- source #3 (a): field `schedule`: 'often': write one of
"""),
    "unknown kind or field": ("""
[[source]]
id = "a"
kind = "rss"  # <- field `kind`: unknown kind 'rss'
locator = "https://a.example/rss"

[[source]]
id = "b"
kind = "feed"
url = "https://b.example/rss"  # <- source #2 (b): unknown field `url`
locator = "https://b.example/rss"

[sources]  # <- unknown table or field `sources`
"""),
    "bad locator": ("""
[[source]]
id = "a"
kind = "mastodon"
locator = "@amnestyiran"  # <- field `locator`: mastodon locator '@amnestyiran': use @user@server

[[source]]
id = "b"
kind = "feed"
locator = "ftp://b.example/rss"  # <- field `locator`: needs an http(s) URL

[[source]]
id = "c"
kind = "bluesky"
locator = "https://bsky.app/profile/un.org"  # <- field `locator`: a bluesky locator is a handle
"""),
    "bad override URL": ("""
[[source]]
id = "a"
kind = "telegram"
locator = "somechannel"
options = { base_url = "https://proxy.example/telegram?via=1" }  # <- option `base_url`: "https://proxy.ex

[[source]]
id = "b"
kind = "x"
locator = "@UN"
options = { api_base = "https://api.x.com/?v=2" }  # <- option `api_base`: "https://api.x.com/?v=2": no query
"""),
    "dates and selectors": ("""
[[source]]
id = "a"
kind = "un_communications"
locator = "https://a.example/list"
options = { date_order = "DDMMYY", languages = "fr" }  # <- option `date_order`: expected "DMY", "MDY" or "YMD"

[[source]]
id = "b"
kind = "webpage"
locator = "https://b.example/news"
options = { item = "div.views-row", next = "a[[" }  # <- option `next`: not a CSS selector

[[source]]
id = "c"
kind = "webpage"
locator = "https://c.example/news"
options = { link = "a" }  # <- option `item`: required
"""),
}


def _expected(text: str) -> list[tuple[int, str]]:
    return [(number, line.split("# <- ", 1)[1]) for number, line in enumerate(text.splitlines(), start=1)
            if "# <- " in line]


def _assert_all_reported(path: Path, text: str, problems: list[str], *, renumbered: bool = False) -> None:
    for number, fragment in _expected(text):
        if renumbered:  # sources moved: their numbers changed, the rest of the message did not
            fragment = re.sub(r"^source #\d+ \([^)]*\): ", "", fragment)
        assert any(p.startswith(f"{path}:{number}: ") and fragment in p for p in problems), (number, fragment, problems)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_every_mistake_of_a_class_is_reported_at_once_with_its_line(tmp_path: Path, mistake: str) -> None:
    path = tmp_path / "sources.toml"
    text = MISTAKES[mistake]
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    expected = _expected(text)
    # the line of each marked mistake, and one more for "languages" where two are on one line
    assert len(problems) == len(expected) + (mistake == "dates and selectors")
    _assert_all_reported(path, text, problems)
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"archiver: error: {p}" for p in problems]


def test_mistakes_of_every_class_in_one_file_come_out_together(tmp_path: Path) -> None:
    blocks = [text.replace('id = "', f'id = "{n}-') for n, text in enumerate(MISTAKES.values())]
    text = "".join(blocks)
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    _assert_all_reported(path, text, caught.value.problems, renumbered=True)
    assert len(caught.value.problems) == len(_expected(text)) + 1


def test_not_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace("host_delay = 0", "host_delay = "), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:4: not valid TOML"):
        load_config(path)


def test_allow_private_takes_true_false_or_first_hop_and_is_passed_through(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    for value, expected in (("true", True), ("false", False), ('"first_hop"', "first_hop")):
        path.write_text(GOOD.replace("follow_links = true", f"allow_private = {value}"), encoding="utf-8")
        assert load_config(path).sources[0].options == {"allow_private": expected}
    for value in ('"false"', '"true"', "1", '"first-hop"'):
        path.write_text(GOOD.replace("follow_links = true", f"allow_private = {value}"), encoding="utf-8")
        with pytest.raises(ConfigError, match="option `allow_private`: expected true, false or \"first_hop\""):
            load_config(path)
    for value, expected in (("true", True), ('"first_hop"', "first_hop")):  # the same for [archiver]
        path.write_text(GOOD.replace("host_delay = 0", f"allow_private = {value}"), encoding="utf-8")
        assert load_config(path).settings.allow_private == expected
    path.write_text(GOOD.replace("host_delay = 0", 'allow_private = "false"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="field `allow_private`: expected true, false or \"first_hop\""):
        load_config(path)


def test_ca_file_must_be_readable_pem_and_is_passed_through(tmp_path: Path) -> None:
    from tests.certs import server_context

    _, ca = server_context(tmp_path / "tls")
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace("host_delay = 0", f'ca_file = "{ca}"'), encoding="utf-8")
    assert load_config(path).settings.ca_file == str(ca)
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n", encoding="utf-8")
    for wrong in (tmp_path / "missing.pem", not_pem):
        path.write_text(GOOD.replace("host_delay = 0", f'ca_file = "{wrong}"'), encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert len(caught.value.problems) == 1
        assert re.match(rf"{re.escape(str(path))}:4: \[archiver\]: field `ca_file`: cannot be read as PEM "
                        r"certificates: \S", caught.value.problems[0]), caught.value.problems


@pytest.mark.parametrize(("text", "seconds"), [
    ("every 30m", 1800), ("every 30 minutes", 1800), ("every 30 min", 1800), ("every 30 mins", 1800),
    ("30m", 1800), ("every 2 hours", 7200), ("every 2h", 7200), ("2 hours", 7200), ("every hour", 3600),
    ("hourly", 3600), ("daily", 86400), ("every day", 86400), ("every 1d", 86400), ("weekly", 604800),
    ("every 90 seconds", 90), ("Every 30 Minutes", 1800),
])
def test_schedules_take_the_obvious_spellings(text: str, seconds: int) -> None:
    assert parse_schedule(text).interval == seconds


@pytest.mark.parametrize(("text", "suggestion"), [
    ("every 30 minuts", "did you mean `every 30m`?"), ("every 2 hourz", "did you mean `every 2h`?"),
    ("dayly", "did you mean `daily`?"), ("0 */6 * * *", "did you mean `cron: 0 */6 * * *`?"),
    ("often", "write one of `every 30m`"), ("every 0m", "at least 1 second"), ("every 400d", "at most a year"),
])
def test_a_schedule_not_understood_gets_the_closest_accepted_spelling(text: str, suggestion: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert suggestion in str(caught.value)


def test_run_refuses_the_placeholder_contact_with_one_line_and_check_only_warns(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    db = tmp_path / "archive.db"
    for config_text in (SHIPPED.read_text(encoding="utf-8"), GOOD.replace(
            'contact = "https://example.org/archive"\n', "")):
        path.write_text(config_text, encoding="utf-8")
        result = CliRunner().invoke(main, ["run", "--no-serve", "--config", str(path), "--db", str(db)])
        assert result.exit_code == 2
        (line,) = result.output.splitlines()
        assert line.startswith(f"archiver: error: {path}:")
        assert "field `contact` is the placeholder" in line and "set it to a URL or e-mail address" in line
        assert not db.exists()
        checked = CliRunner().invoke(main, ["sources", "check", "--config", str(path)])
        assert checked.exit_code == 0
        assert "archiver: warning: " in checked.output and "field `contact` is the placeholder" in checked.output


def test_a_contact_given_at_start_replaces_the_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.config import load_config, placeholder_contact

    path = tmp_path / "sources.toml"
    path.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    assert placeholder_contact(load_config(path)) is not None
    monkeypatch.setenv("ARCHIVER_CONTACT", "mailto:desk@newsroom.example")  # `archiver run --contact`
    config = load_config(path)
    assert config.settings.contact == "mailto:desk@newsroom.example" and placeholder_contact(config) is None
    assert "ARCHIVER_CONTACT" in CliRunner().invoke(main, ["run", "--help"]).output  # named in --help


def test_help_names_the_environment_variables() -> None:
    top = CliRunner().invoke(main, ["--help"]).output
    assert "ARCHIVER_DB" in top and "ARCHIVER_CONFIG" in top and "X_BEARER_TOKEN" in top
    for command in (["status"], ["sources", "check"], ["run"], ["fetch"]):
        text = CliRunner().invoke(main, [*command, "--help"]).output
        assert "env var: ARCHIVER_DB" in text
    assert "env var: ARCHIVER_CONFIG" in CliRunner().invoke(main, ["run", "--help"]).output


def test_sources_check_lists_every_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert "configuration valid" in result.output
    assert "un-news  feed  enabled  every 30m  https://news.un.org/feed/subscribe/en/news/all/rss.xml" in result.output
    assert "ohchr-sitemap  sitemap  disabled" in result.output


def test_lines_are_found_in_every_way_toml_writes_a_key(tmp_path: Path) -> None:
    text = '''[archiver]
contact = "mailto:archive@example.org"
note = """
colour = 1
[[source]]
"""

[[source]]  # the first source
id = "a"
kind = "feed"
locator = "https://a.example/rss"
options.folow_links = true
"options" . "max_requests" = 0

[[ source ]]
id = "b"
kind = "feed"
locator = "https://b.example/rss"

  [source.options]
  recheck = "no"
'''
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in caught.value.problems] == ["3", "12", "13", "21"]
    assert "[archiver]: unknown field `note`" in caught.value.problems[0]
    assert "unknown option `folow_links`" in caught.value.problems[1]
    assert "option `max_requests`: 0 is out of bounds" in caught.value.problems[2]
    assert 'source #2 (b): field `options`: option `recheck`: expected true or false, got the string "no"' in \
        caught.value.problems[3]
