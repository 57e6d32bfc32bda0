"""`archiver import x-archive`: the real tweets.js, a zip and a folder with parts, deleted tweets,
note tweets and an edit chain; streamed in small chunks; re-imports change nothing."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archiver.archive import Archive
from archiver.cli import main
from archiver.importers import x_archive
from archiver.importers.filecapture import ImportFailed
from tests.conftest import FIXTURES, init_archive
from tests.social_loop import events, rows

TWEETS = FIXTURES / "x_archive" / "tweets.js"


def run(*args: str) -> Any:
    init_archive(Path(args[args.index("--db") + 1]))
    return CliRunner().invoke(main, ["import", *args], catch_exceptions=False)


def counts(db_path: Path) -> tuple[int, ...]:
    return tuple(rows(db_path, f"SELECT count(*) FROM {t}")[0][0]
                 for t in ("captures", "posts", "versions", "events", "chain"))


def test_the_real_tweets_js_imports_all_28_tweets_as_one_capture(db_path: Path) -> None:
    result = run("x-archive", "--db", str(db_path), str(TWEETS))
    assert result.exit_code == 0, result.output
    assert "imported 28 posts as capture 1 (28 new, 0 edited, 0 deleted)" in result.output
    capture = rows(db_path, "SELECT kind, requested_url, transferred_sha256, transferred_size, details, "
                            "payload_sha256 FROM captures")
    assert len(capture) == 1
    kind, url, digest, size, details, payload = capture[0]
    assert (kind, url, payload) == ("import", f"file:{TWEETS.name}", None)
    # nothing of where the operator keeps the file reaches the archive
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert str(TWEETS.parent.resolve()).encode() not in stored
    assert digest == hashlib.sha256(TWEETS.read_bytes()).hexdigest() and size == TWEETS.stat().st_size
    assert {"name", "size", "imported_at"} <= set(json.loads(details))
    assert rows(db_path, "SELECT count(*), count(DISTINCT native_id) FROM posts WHERE platform = 'x'") == [(28, 28)]
    assert rows(db_path, "SELECT DISTINCT capture_id FROM versions") == [(1,)]  # every post traceable to the file
    post = rows(db_path, "SELECT kind, reply_to, published_at, published_raw, text, version_count FROM posts "
                         "WHERE native_id = '1629012888185610242'")
    assert post == [("reply", "1628894722889601024", "2023-02-24T06:58:32.000000Z", "Fri Feb 24 06:58:32 +0000 2023",
                     "@RPDeshaies Pretty much anything by Bal-Sagoth", 1)]
    kinds = dict(rows(db_path, "SELECT kind, count(*) FROM posts GROUP BY kind"))
    assert kinds == {"reply": 23, "post": 4, "repost": 1}
    # every chain is of one tweet here: the identity is the first id of editTweetIds, with one version
    assert rows(db_path, "SELECT max(version_count) FROM posts") == [(1,)]
    assert rows(db_path, "SELECT outcome, kind, n_new FROM runs") == [("ok", "import", 28)]


def test_importing_the_same_file_again_changes_nothing(db_path: Path) -> None:
    run("x-archive", "--db", str(db_path), str(TWEETS))
    before = counts(db_path)
    result = run("x-archive", "--db", str(db_path), str(TWEETS))
    assert result.exit_code == 0
    assert "already imported (capture 1" in result.output and "nothing changed" in result.output
    assert counts(db_path) == before


def ytd(name: str, entries: list[dict[str, Any]]) -> str:
    return f"window.YTD.{name}.part0 = " + json.dumps(entries, indent=2)


def tweet(tweet_id: str, text: str, created: str, edit_ids: list[str] | None = None,
          initial: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id_str": tweet_id, "id": tweet_id, "full_text": text, "created_at": created,
                            "lang": "en", **extra}
    if initial:
        body["edit_info"] = {"edit": {"initialTweetId": initial,
                                      "editControlInitial": {"editTweetIds": edit_ids, "editsRemaining": "4"}}}
    else:
        body["edit_info"] = {"initial": {"editTweetIds": edit_ids or [tweet_id], "editsRemaining": "5"}}
    return {"tweet": body}


def account_files() -> dict[str, str]:
    long_text = "A long post " + "that goes on " * 40 + "and ends here."
    return {
        "data/account.js": ytd("account", [{"account": {"accountId": "42", "username": "ministry",
                                                        "accountDisplayName": "The Ministry"}}]),
        # newest first, as archives are: the edit comes before the tweet it edits
        "data/tweets.js": ytd("tweets", [
            tweet("1700000000000000200", "Statement on the talks (corrected)", "Tue Sep 05 10:05:00 +0000 2023",
                  ["1700000000000000100", "1700000000000000200"], initial="1700000000000000100"),
            tweet("1700000000000000150", long_text[:270] + "… https://t.co/x", "Tue Sep 05 10:02:00 +0000 2023"),
            tweet("1700000000000000100", "Statement on the talk", "Tue Sep 05 10:00:00 +0000 2023",
                  ["1700000000000000100", "1700000000000000200"])]),
        "data/tweets-part1.js": ytd("tweets", [
            tweet("1600000000000000000", "An older statement", "Mon Sep 05 10:00:00 +0000 2022")]),
        "data/deleted-tweets.js": ytd("deleted_tweets", [
            {"tweet": {**tweet("1650000000000000000", "Withdrawn statement", "Wed Apr 12 09:00:00 +0000 2023")[
                "tweet"], "deleted_at": "Wed Apr 12 11:00:00 +0000 2023"}}]),
        "data/note-tweet.js": ytd("note_tweet", [{"noteTweet": {
            "noteTweetId": "9", "createdAt": "2023-09-05T10:02:00.000Z", "core": {"text": long_text}}}]),
    }


def check_account_import(db_path: Path) -> None:
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, version_count, text, status, author_id, author_handle, author_name, published_at "
                 "FROM posts")}
    assert set(posts) == {"1700000000000000100", "1700000000000000150", "1600000000000000000", "1650000000000000000"}
    chain = posts["1700000000000000100"]
    assert chain[:3] == (2, "Statement on the talks (corrected)", "live")
    assert chain[3:] == ("42", "ministry", "The Ministry", "2023-09-05T10:00:00.000000Z")
    assert rows(db_path, "SELECT v.text, v.claimed_at, v.extra FROM versions v JOIN posts p ON p.id = v.post_id "
                         "WHERE p.native_id = '1700000000000000100' ORDER BY v.number") == [
        ("Statement on the talk", "2023-09-05T10:00:00.000000Z", '{"id":"1700000000000000100"}'),
        ("Statement on the talks (corrected)", "2023-09-05T10:05:00.000000Z", '{"id":"1700000000000000200"}')]
    assert posts["1700000000000000150"][1].endswith("and ends here.")  # the note tweet's full text
    assert posts["1650000000000000000"][2] == "deleted"
    assert events(db_path, "1650000000000000000") == ["first_seen", "deleted"]
    assert events(db_path, "1700000000000000100") == ["first_seen", "edited"]


def test_a_zip_archive_with_parts_deleted_and_note_tweets(db_path: Path, tmp_path: Path) -> None:
    archive_zip = tmp_path / "twitter-2023-09-06.zip"
    with zipfile.ZipFile(archive_zip, "w") as packed:
        for name, text in account_files().items():
            packed.writestr(name, text)
    result = run("x-archive", "--db", str(db_path), str(archive_zip))
    assert result.exit_code == 0, result.output
    check_account_import(db_path)
    digest, = rows(db_path, "SELECT transferred_sha256 FROM captures")[0]
    assert digest == hashlib.sha256(archive_zip.read_bytes()).hexdigest()


def test_an_unpacked_folder_read_in_tiny_chunks(db_path: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "archive"
    for name, text in account_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(x_archive, "CHUNK", 7)  # every tweet spans many reads of the stream
    result = run("x-archive", "--db", str(db_path), str(folder))
    assert result.exit_code == 0, result.output
    check_account_import(db_path)


def test_a_truncated_file_is_a_recorded_failure_and_a_clear_error(db_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "tweets.js"
    broken.write_bytes(TWEETS.read_bytes()[:30000])
    result = CliRunner().invoke(main, ["import", "x-archive", "--db", str(init_archive(db_path)), str(broken)])
    assert result.exit_code == 2
    assert "archiver: error: tweets.js: entry" in result.output and "truncated" in result.output
    outcome, error = rows(db_path, "SELECT outcome, error FROM runs")[0]
    assert outcome == "failed" and "invalid or truncated JSON" in error
    written = rows(db_path, "SELECT count(*) FROM posts")[0][0]
    assert 0 < written < 28  # what was read before the break is kept


def test_bad_entries_are_skipped_and_named(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "tweets.js"
    path.write_text(ytd("tweets", [tweet("1", "fine", "Mon Sep 05 10:00:00 +0000 2022"), {"tweet": {"id_str": 5}},
                                   {"like": {}}]))
    result = CliRunner().invoke(main, ["import", "x-archive", "--db", str(init_archive(db_path)), str(path)])
    assert result.exit_code == 1
    assert "tweets.js: entry 2: `id_str` missing or not numeric" in result.output
    assert "tweets.js: entry 3: not an object with a `tweet` object" in result.output
    assert rows(db_path, "SELECT native_id FROM posts") == [("1",)]


def test_not_an_archive(db_path: Path, tmp_path: Path) -> None:
    with Archive(db_path, create=True) as archive:
        with pytest.raises(ImportFailed, match="no such file or folder"):
            x_archive.import_x_archive(archive, tmp_path / "missing.zip")
        (tmp_path / "empty").mkdir()
        with pytest.raises(ImportFailed, match=r"no data/tweets\.js"):
            x_archive.import_x_archive(archive, tmp_path / "empty")
        odd = tmp_path / "tweets.js"
        odd.write_text('{"not": "ytd"}')
        with pytest.raises(ImportFailed, match="does not start with"):
            x_archive.import_x_archive(archive, odd)


def test_entities_are_unescaped_once_in_every_tweet_of_the_real_archive(db_path: Path) -> None:
    result = run("x-archive", "--db", str(db_path), str(TWEETS))
    assert result.exit_code == 0, result.output
    texts = dict(rows(db_path, "SELECT native_id, text FROM posts"))
    assert len(texts) == 28
    assert [t for t in texts.values() if any(e in t for e in ("&amp;", "&lt;", "&gt;"))] == []
    assert texts["1607434750175715329"] == "@SEGA Sonic 3 & Knuckles"  # "Sonic 3 &amp; Knuckles" in the file
    assert x_archive.unescape("a &amp;lt; b &gt; c") == "a &lt; b > c"  # once: `&amp;lt;` was typed as `&lt;`


ALROCAR = FIXTURES / "x_archive" / "alrocar"


def _notes() -> list[dict[str, Any]]:
    text = (ALROCAR / "note-tweet.js").read_text(encoding="utf-8")
    return [entry["noteTweet"] for entry in json.loads(text.split("=", 1)[1])]


def _legacy_time(iso: str) -> str:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.strftime("%a %b %d %H:%M:%S +0000 %Y")


def test_long_posts_of_a_real_archive_are_complete(db_path: Path, tmp_path: Path) -> None:
    """Eight real notes, two pairs of them made in the same second, one pair a second apart with the
    same opening. Two notes have their real tweets; the other six get tweets as X writes them: the
    note cut at 275 characters with an ellipsis, id a few milliseconds after the note's, and one
    of them a reply whose text starts with the mention X puts in front."""
    notes = _notes()
    real = {"1835702659925381120", "1776702010827386880"}  # the notes of the two real tweets
    made = []
    for note in notes:
        if note["noteTweetId"] in real:
            continue
        text = note["core"]["text"]
        full = text if len(text) <= 280 else text[:275] + "\u2026"
        extra: dict[str, Any] = {}
        if note["noteTweetId"] == "1782058733842948096":
            full, extra = "@tinybirdco " + full, {"in_reply_to_status_id_str": "1782058730885980160"}
        made.append(tweet(str(int(note["noteTweetId"]) + (16 << 22)), full.replace("&", "&amp;").replace(">", "&gt;"),
                          _legacy_time(note["createdAt"]), **extra))
    # short tweets made in the same second as two notes, with texts of their own: one the very
    # beginning of a note, but whole (not cut), so it is not that note
    made.append(tweet(str(1832018451314966528 + (20 << 22)), "Algo distinto &amp; breve",
                      "Fri Sep 06 11:30:10 +0000 2024"))
    made.append(tweet(str(1832018451314966528 + (24 << 22)), "Eso que acabo de mostrar",
                      "Fri Sep 06 11:30:10 +0000 2024"))
    folder = tmp_path / "archive" / "data"
    folder.mkdir(parents=True)
    (folder / "tweets.js").write_bytes((ALROCAR / "tweets.js").read_bytes())
    (folder / "tweets-part1.js").write_text(ytd("tweets", made), encoding="utf-8")
    (folder / "note-tweet.js").write_bytes((ALROCAR / "note-tweet.js").read_bytes())
    result = run("x-archive", "--db", str(db_path), str(folder.parent))
    assert result.exit_code == 0, result.output
    stored = dict(rows(db_path, "SELECT native_id, text FROM posts"))
    assert len(stored) == 10
    short, beginning = str(1832018451314966528 + (20 << 22)), str(1832018451314966528 + (24 << 22))
    assert stored.pop(beginning) == "Eso que acabo de mostrar"
    long_posts = {native: text for native, text in stored.items() if native != short}
    for note in notes:  # each post holds the note made just before it (ids begin with milliseconds)
        nearest = min(long_posts, key=lambda native: abs((int(native) >> 22) - (int(note["noteTweetId"]) >> 22)))
        assert long_posts[nearest] == note["core"]["text"], note["noteTweetId"]
    assert stored[short] == "Algo distinto & breve"
    assert rows(db_path, "SELECT kind FROM posts WHERE native_id = ?",
                str(1782058733842948096 + (16 << 22))) == [("reply",)]


def test_an_edited_long_post_gives_the_note_only_to_the_edit_it_holds(db_path: Path, tmp_path: Path) -> None:
    """The note text is the post as of the note's `updatedAt`: here the real 68/100 note, updated ten
    minutes later by an edit. The real first tweet keeps its own (cut) text; the edit, made at
    `updatedAt`, gets the full note."""
    note = next(n for n in _notes() if n["noteTweetId"] == "1776702010827386880")
    note = {**note, "updatedAt": "2024-04-06T20:12:23.000Z"}
    real = json.loads((ALROCAR / "tweets.js").read_text(encoding="utf-8").split("=", 1)[1])[1]
    first_id, edit_id = real["tweet"]["id_str"], str(int(real["tweet"]["id_str"]) + (600_000 << 22))
    first = copy.deepcopy(real)
    first["tweet"]["edit_info"] = {"initial": {"editTweetIds": [first_id, edit_id], "editsRemaining": "4"}}
    edit = tweet(edit_id, real["tweet"]["full_text"], "Sat Apr 06 20:12:23 +0000 2024", [first_id, edit_id],
                 initial=first_id)
    folder = tmp_path / "archive" / "data"
    folder.mkdir(parents=True)
    (folder / "tweets.js").write_text(ytd("tweets", [edit, first]), encoding="utf-8")
    (folder / "note-tweet.js").write_text(ytd("note_tweet", [{"noteTweet": note}]), encoding="utf-8")
    result = run("x-archive", "--db", str(db_path), str(folder.parent))
    assert result.exit_code == 0, result.output
    versions = [text for (text,) in rows(db_path, "SELECT text FROM versions ORDER BY number")]
    assert versions == [real["tweet"]["full_text"], note["core"]["text"]]


def real_entries() -> list[Any]:
    with TWEETS.open(encoding="utf-8-sig") as stream:
        return list(x_archive.iter_ytd(stream, "tweets.js"))


def test_community_and_circle_posts_are_imported_the_circle_ones_unpublished(db_path: Path, tmp_path: Path) -> None:
    """Real exports keep posts to an X Community in community-tweet.js and those shown only to the
    account's Twitter Circle in twitter-circle-tweet.js, both in tweets.js's shape: they were left out
    of the import without a word. Entries here: the real archive's, moved to those files."""
    entries = real_entries()
    community = copy.deepcopy(entries[0])
    community["tweet"]["community_id_str"] = "1471580197908586507"
    folder = tmp_path / "twitter-2024-01-01" / "data"
    folder.mkdir(parents=True)
    (folder / "tweets.js").write_text(ytd("tweets", entries[2:]))
    (folder / "community-tweet.js").write_text(ytd("community_tweet", [community]))
    (folder / "twitter-circle-tweet.js").write_text(ytd("twitter_circle_tweet", [entries[1]]))
    result = run("x-archive", "--db", str(db_path), str(folder.parent))
    assert result.exit_code == 0, result.output
    assert rows(db_path, "SELECT count(*) FROM posts") == [(len(entries),)]
    community_id, circle_id = entries[0]["tweet"]["id_str"], entries[1]["tweet"]["id_str"]
    assert rows(db_path, "SELECT p.native_id, p.publish, json_extract(v.extra, '$.community') FROM posts p "
                         "JOIN versions v ON v.id = p.current_version WHERE p.native_id IN (?, ?) ORDER BY p.publish",
                community_id, circle_id) == [(circle_id, 0, None), (community_id, 1, "1471580197908586507")]


def test_an_edit_chain_split_between_parts_is_written_oldest_first(db_path: Path, tmp_path: Path) -> None:
    files = account_files()
    newest_first = json.loads(files["data/tweets.js"].split("=", 1)[1])
    files["data/tweets.js"] = ytd("tweets", newest_first[:1])  # the edit; what it edits is in part 1
    files["data/tweets-part1.js"] = ytd("tweets", newest_first[1:] + json.loads(
        files["data/tweets-part1.js"].split("=", 1)[1]))
    folder = tmp_path / "export"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    assert run("x-archive", "--db", str(db_path), str(folder)).exit_code == 0
    check_account_import(db_path)


def test_an_older_export_imported_after_a_newer_one_changes_nothing(db_path: Path, tmp_path: Path) -> None:
    """The same version, dated by X, seen again (an export made before the edit, imported after the
    newer one): it is the version held, not an edit back to it."""
    newer, older = tmp_path / "newer.js", tmp_path / "older.js"
    newer.write_text(account_files()["data/tweets.js"])
    older.write_text(ytd("tweets", [tweet("1700000000000000100", "Statement on the talk",
                                          "Tue Sep 05 10:00:00 +0000 2023")]))
    assert run("x-archive", "--db", str(db_path), str(newer)).exit_code == 0
    before = rows(db_path, "SELECT count(*) FROM versions"), rows(db_path, "SELECT count(*) FROM events")
    result = run("x-archive", "--db", str(db_path), str(older))
    assert result.exit_code == 0, result.output
    assert (rows(db_path, "SELECT count(*) FROM versions"), rows(db_path, "SELECT count(*) FROM events")) == before
    assert rows(db_path, "SELECT text FROM posts WHERE native_id = '1700000000000000100'") == [
        ("Statement on the talks (corrected)",)]


def test_a_later_export_listing_the_same_deleted_tweet_does_not_restore_it(db_path: Path, tmp_path: Path) -> None:
    """Every later export lists a deleted tweet in deleted-tweets.js again. Its entry shows what the
    tweet said, not that it is back: the second import recorded a `restored` and a second `deleted`."""
    for name, later in (("twitter-2023-09-06", []), ("twitter-2023-10-01", [
            tweet("1710000000000000000", "A later statement", "Sun Oct 01 09:00:00 +0000 2023")])):
        folder = tmp_path / name
        files = account_files()
        part = json.loads(files["data/tweets-part1.js"].split("=", 1)[1])
        files["data/tweets-part1.js"] = ytd("tweets", later + part)
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
        result = run("x-archive", "--db", str(db_path), str(folder))
        assert result.exit_code == 0, result.output
    assert "(1 new, 0 edited, 0 deleted)" in result.output, result.output
    assert events(db_path, "1650000000000000000") == ["first_seen", "deleted"]
    assert rows(db_path, "SELECT status FROM posts WHERE native_id = '1650000000000000000'") == [("deleted",)]
    verified = CliRunner().invoke(main, ["verify", "--db", str(db_path)])
    assert verified.exit_code == 0, verified.output


def test_an_exported_repost_never_replaces_the_complete_one_the_archive_holds(db_path: Path, tmp_path: Path) -> None:
    """The real repost of the darkliquid export: X keeps it as "RT @boondaburrah: …" without the original.
    Read first from the API (a twarc2 page expanding the original), the repost holds the original's whole
    text; the export imported after it adds no version. Imported alone, the export's reading is kept."""
    repost_id = "1584110055259279360"
    exported = next(entry for entry in json.loads(TWEETS.read_text().split("=", 1)[1])
                    if entry["tweet"]["id_str"] == repost_id)
    folder = tmp_path / "archive" / "data"
    folder.mkdir(parents=True)
    (folder / "account.js").write_text(ytd("account", [{"account": {"accountId": "42", "username": "darkliquid"}}]))
    (folder / "tweets.js").write_text(ytd("tweets", [exported]))
    original = "@bengl3rt @Kanaratron @jf ah, I see someone has discovered @foone's https://t.co/rYezv5wzUB"
    page = {"data": [{"id": repost_id, "text": f"RT @boondaburrah: {original}", "author_id": "42",
                      "created_at": "2022-10-23T09:10:43.000Z", "edit_history_tweet_ids": [repost_id],
                      "referenced_tweets": [{"type": "retweeted", "id": "1584000000000000000"}]}],
            "includes": {"tweets": [{"id": "1584000000000000000", "text": original + " and the rest of the thread",
                                     "author_id": "99", "created_at": "2022-10-23T08:00:00.000Z",
                                     "edit_history_tweet_ids": ["1584000000000000000"]}],
                         "users": [{"id": "42", "username": "darkliquid", "name": "Andrew"},
                                   {"id": "99", "username": "boondaburrah", "name": "Boonda"}]},
            "__twarc": {"url": "https://api.twitter.com/2/tweets?ids=" + repost_id, "version": "2.12.0",
                        "retrieved_at": "2022-10-24T00:00:00+00:00"}}
    (tmp_path / "page.jsonl").write_text(json.dumps(page) + "\n")
    assert run("twarc", "--db", str(db_path), str(tmp_path / "page.jsonl")).exit_code == 0
    complete = rows(db_path, "SELECT kind, text, version_count FROM posts WHERE native_id = ?", repost_id)
    assert complete == [("repost", original + " and the rest of the thread", 1)]
    result = run("x-archive", "--db", str(db_path), str(tmp_path / "archive"))
    assert result.exit_code == 0 and "(0 new, 0 edited, 0 deleted)" in result.output, result.output
    assert rows(db_path, "SELECT kind, text, version_count FROM posts WHERE native_id = ?", repost_id) == complete
    alone = tmp_path / "alone.db"
    assert run("x-archive", "--db", str(alone), str(tmp_path / "archive")).exit_code == 0
    assert rows(alone, "SELECT kind, text FROM posts") == [("repost", exported["tweet"]["full_text"])]
