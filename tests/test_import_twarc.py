"""`archiver import twarc`: the real twarc2 JSONL files, with their __twarc provenance kept in every
version, edit chains folded into one post, and re-imports that change nothing."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path

import requests
from click.testing import CliRunner

from archiver.cli import main
from tests.conftest import FIXTURES, init_archive
from tests.social_loop import events, rows
from tests.test_publish import page, serve_archive

TWARC = FIXTURES / "twarc2"


def run(db_path: Path, path: Path) -> tuple[int, str]:
    init_archive(db_path)
    result = CliRunner().invoke(main, ["import", "twarc", "--db", str(db_path), str(path)])
    return result.exit_code, result.output


def test_twarc_files_import_with_provenance_and_edit_chains(db_path: Path) -> None:
    for name in ("edited", "media_tweet", "quoted_edit"):
        code, output = run(db_path, TWARC / f"{name}.jsonl")
        assert code == 0, output
    posts = {row[0]: row[1:] for row in rows(
        db_path, "SELECT native_id, kind, version_count, author_handle, quote_of, reply_to, media, text FROM posts")}
    assert set(posts) == {"1576994746135764992", "1558553189766631429", "1576995594388000768"}
    edited = posts["1576994746135764992"]  # identity: the first id of edit_history_tweet_ids
    assert edited[:4] == ("post", 2, "wongmjane", None)
    assert events(db_path, "1576994746135764992") == ["first_seen", "edited"]
    assert posts["1576995594388000768"][:5] == ("quote", 1, "dappdavid99", "1576994746135764992",
                                                "1576994746135764992")
    assert json.loads(posts["1558553189766631429"][5])[0]["type"] == "video"
    for raw, capture_url in rows(db_path, "SELECT v.raw, c.requested_url FROM versions v "
                                          "JOIN captures c ON c.id = v.capture_id"):
        kept = json.loads(raw)
        assert kept["__twarc"]["url"].startswith("https://api.twitter.com/2/tweets?")
        assert {"version", "retrieved_at"} <= set(kept["__twarc"]) and "id" in kept["tweet"]
        assert capture_url.startswith("file:") and capture_url.endswith(".jsonl")
        assert "/" not in capture_url  # the file's name, never the operator's path to it
    assert rows(db_path, "SELECT count(*), count(DISTINCT transferred_sha256) FROM captures "
                         "WHERE kind = 'import'") == [(3, 3)]


def test_reimporting_a_twarc_file_changes_nothing(db_path: Path) -> None:
    run(db_path, TWARC / "edited.jsonl")
    before = rows(db_path, "SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM versions), "
                           "(SELECT count(*) FROM events), (SELECT count(*) FROM runs)")
    code, output = run(db_path, TWARC / "edited.jsonl")
    assert code == 0 and "already imported" in output and "nothing changed" in output
    assert rows(db_path, "SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM versions), "
                         "(SELECT count(*) FROM events), (SELECT count(*) FROM runs)") == before


def test_bad_lines_are_skipped_named_and_the_run_recorded_failed(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = (TWARC / "media_tweet.jsonl").read_text().strip()
    path.write_text("\n".join([good, '{"data": [{"id": 5}]}', "not json", "[1, 2]", '{"data": [{"id": "1"',
                               ""]) + "\n")
    code, output = run(db_path, path)
    assert code == 1
    assert "mixed.jsonl: line 2: data[0]: field `id`: expected str, got int" in output
    assert "mixed.jsonl: line 3: not valid JSON" in output
    assert "mixed.jsonl: line 4: not a twarc2 page" in output
    assert "mixed.jsonl: line 5: not valid JSON" in output
    assert rows(db_path, "SELECT native_id FROM posts") == [("1558553189766631429",)]
    outcome, error = rows(db_path, "SELECT outcome, error FROM runs")[0]
    # one tweet imported, four entries not: the run says it did part of its work
    assert outcome == "partial" and error.startswith("4 entries could not be read; first: mixed.jsonl: line 2")


def test_flattened_twarc_output_is_read_too(db_path: Path, tmp_path: Path) -> None:
    page = json.loads((TWARC / "media_tweet.jsonl").read_text())
    flat = {**page["data"][0], "author": page["includes"]["users"][0], "__twarc": page["__twarc"]}
    path = tmp_path / "flat.jsonl"
    path.write_text(json.dumps(flat) + "\n")
    code, output = run(db_path, path)
    assert code == 0, output
    assert rows(db_path, "SELECT native_id, author_handle FROM posts") == [("1558553189766631429", "IgorBrigadir")]


def test_streaming_output_imports_every_tweet_and_names_the_disconnect(db_path: Path) -> None:
    """twarc-csv's real `twarc2 filter` output: 8 stream lines (`data` is one tweet, beside
    `includes` and `matching_rules`) carrying 7 tweets, one sent twice, and an error notice."""
    code, output = run(db_path, TWARC / "streaming_output.jsonl")
    assert code == 1, output
    assert ("streaming_output.jsonl: line 5: no tweets: the API answered with errors (operational-disconnect)"
            in output)
    posts = dict(rows(db_path, "SELECT native_id, kind FROM posts"))
    assert posts == {"1377650090978992134": "quote", "1377650093109743620": "reply",
                     "1377650277642338305": "post", "1377650387579248643": "post",
                     "1377650459033280516": "reply", "1377650500687044618": "reply",
                     "1377650529766154240": "post"}
    assert rows(db_path, "SELECT count(*) FROM versions") == [(7,)]  # the line sent twice is one version
    quoted = rows(db_path, "SELECT author_handle, quote_of, media FROM posts WHERE native_id = '1377650090978992134'")
    assert quoted[0][:2] == ("blackheart_265", "1377640162566496258")
    assert json.loads(quoted[0][2])[0]["url"] == "https://pbs.twimg.com/media/Ex5ldKwXEAEnEnI.jpg"
    for (raw,) in rows(db_path, "SELECT raw FROM versions"):
        assert json.loads(raw)["__twarc"]["url"] == "https://api.twitter.com/2/tweets/search/stream"


def test_flattened_output_of_twarc2_flatten(db_path: Path) -> None:
    """The first three lines of twarc-csv's real flat.jsonl: a retweet, a post and a bot's post."""
    code, output = run(db_path, TWARC / "flat_first3.jsonl")
    assert code == 0, output
    assert rows(db_path, "SELECT native_id, kind, author_handle, repost_of FROM posts ORDER BY native_id") == [
        ("1380242596900044806", "post", "WorthyOfSaw", None),
        ("1380242597881409537", "post", "Qrtrhrsryder", None),
        ("1380242611781386245", "repost", "Alexandravm12", "1380175475545362437")]
    # the retweet's own text is X's 140-character cut; the original, flattened into its reference, is whole
    line = json.loads((TWARC / "flat_first3.jsonl").read_text().splitlines()[0])
    assert line["text"].startswith("RT @williamserafino: ") and len(line["text"]) == 140
    original = line["referenced_tweets"][0]["text"]
    assert rows(db_path, "SELECT text FROM posts WHERE native_id = '1380242611781386245'") == [(original,)]
    assert len(original) == 276


def test_files_without_tweets_are_named_for_what_they_are(db_path: Path) -> None:
    expected = {
        "users_trimmed.jsonl": "line 1: a users page (`twarc2 users`/`followers`/`following`: 2 accounts), not tweets",
        "counts_trimmed.json": "line 1: a counts page (`twarc2 counts`: 4 tweet counts by period), not tweets",
        "users_compliance.jsonl": "line 1: a compliance record (`twarc2 compliance-job`): delete of 1482680858 "
                                  "(protected), not a tweet",
        "tweets_compliance.jsonl": "line 3: a compliance record (`twarc2 compliance-job`): delete of "
                                   "1170147183095664640 (deactivated), not a tweet",
    }
    for name, message in expected.items():
        code, output = run(db_path, TWARC / name)
        assert code == 1 and f"{name}: {message}" in output, output
    assert rows(db_path, "SELECT count(*) FROM posts") == [(0,)]
    assert {outcome for (outcome,) in rows(db_path, "SELECT outcome FROM runs")} == {"failed"}


def test_text_is_unescaped_once_as_the_api_escapes_it(db_path: Path) -> None:
    """Two tweets of twarc-csv's real entities_test.jsonl page; the API wrote `Conte &amp; M5S`."""
    code, output = run(db_path, TWARC / "entities_test_trimmed.jsonl")
    assert code == 0, output
    text, = rows(db_path, "SELECT text FROM posts WHERE native_id = '1574186889686441985'")[0]
    assert text == ("RT @illesgergo_eu: Worth-to-follow thread on \U0001f1ee\U0001f1f9 election results. Meloni's win "
                    "was to be expected, but the comeback of Conte & M5S is quite\u2026")
    assert rows(db_path, "SELECT kind, repost_of FROM posts WHERE native_id = '1574186889686441985'") == [
        ("repost", "1574150125466931200")]


def test_an_edit_chain_read_newest_first_keeps_the_newest_version_current(db_path: Path, tmp_path: Path) -> None:
    """A search returns the newest tweets first, and `twarc2 flatten` writes each tweet on its own line:
    the real edit chain of edited.jsonl, its edit before its first tweet. The first tweet, found after
    the edit, is kept as the earlier version it is; it never becomes the post's current text, and no
    "edited" says the author went back to it. It does say when the post was published: the edit read
    alone gives only a bound."""
    source = json.loads((TWARC / "edited.jsonl").read_text())
    users = {user["id"]: user for user in source["includes"]["users"]}
    chain = {tweet["id"]: tweet for tweet in source["includes"]["tweets"]}
    first, edit = source["data"][0]["edit_history_tweet_ids"]

    def flat(name: str, *ids: str) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps({**chain[tid], "author": users[chain[tid]["author_id"]],
                                            "__twarc": source["__twarc"]}) + "\n" for tid in ids))
        return path

    alone = tmp_path / "alone.db"  # read alone, the edit's time is all there is: said to be a bound
    assert run(alone, flat("edit.jsonl", edit))[0] == 0
    (published, where), = rows(alone, "SELECT published_at, published_where FROM posts")
    assert published == "2022-10-03T17:57:11.000000Z"
    assert where.startswith(f"created_at of tweet {edit}, an edit: the chain's first tweet {first} was not")
    code, output = run(alone, flat("first.jsonl", first))
    assert code == 0 and "(0 new, 0 edited, 1 earlier versions (not current), 0 deleted)" in output, output
    assert rows(alone, "SELECT published_at, published_where FROM posts") == [
        ("2022-10-03T17:57:01.000000Z", "created_at of the first tweet of the edit chain")]
    assert CliRunner().invoke(main, ["verify", "--db", str(alone)]).exit_code == 0

    code, output = run(db_path, flat("flat.jsonl", edit, first))
    assert code == 0 and "(1 new, 0 edited, 1 earlier versions (not current), 0 deleted)" in output, output
    assert events(db_path, first) == ["first_seen", "earlier_version"]
    (text, count, current, where), = rows(db_path, "SELECT text, version_count, current_version, "
                                                   "published_where FROM posts")
    assert text == chain[edit]["text"] and count == 2
    assert rows(db_path, "SELECT number, claimed_at FROM versions WHERE id = ?", current) == [
        (1, "2022-10-03T17:57:11.000000Z")]
    # the first tweet's time is the publication, once it is found
    assert where == "created_at of the first tweet of the edit chain"
    (details,), = rows(db_path, "SELECT details FROM events WHERE type = 'earlier_version'")
    assert json.loads(details) == {"claimed_at": "2022-10-03T17:57:01.000000Z",
                                   "current_claimed_at": "2022-10-03T17:57:11.000000Z"}
    verified = CliRunner().invoke(main, ["verify", "--db", str(db_path)])
    assert verified.exit_code == 0, verified.output
    tampered = tmp_path / "tampered.db"
    shutil.copy(db_path, tampered)
    with sqlite3.connect(tampered) as conn:  # the earlier version made current by hand: verify names it
        conn.execute("UPDATE posts SET current_version = (SELECT max(id) FROM versions)")
    verified = CliRunner().invoke(main, ["verify", "--db", str(tampered)])
    assert verified.exit_code == 1 and "current_version is 2 but the chained rows give 1" in verified.output
    shutil.copy(db_path, tampered)
    with sqlite3.connect(tampered) as conn:  # the edit's time put back as the publication: verify names it
        conn.execute("UPDATE posts SET published_at = '2022-10-03T17:57:11.000000Z'")
    verified = CliRunner().invoke(main, ["verify", "--db", str(tampered)])
    assert verified.exit_code == 1 and "published_at is '2022-10-03T17:57:11.000000Z'" in verified.output, \
        verified.output

    # the whole chain in one page afterwards (the real edited.jsonl) holds nothing new
    code, output = run(db_path, TWARC / "edited.jsonl")
    assert code == 0 and "(0 new, 0 edited, 0 deleted)" in output, output
    assert rows(db_path, "SELECT text, version_count FROM posts") == [(chain[edit]["text"], 2)]

    # the public face: the versions in the order X made them, the current text the edit's, and a word
    # only the first tweet had found in an earlier version, not in the current text
    running = next(serve := serve_archive(db_path))
    try:
        post = requests.get(f"{running.url}{page(first, 'x')}.json", timeout=10).json()
        html = requests.get(f"{running.url}{page(first, 'x')}", timeout=10).text
        found = requests.get(f"{running.url}/-/search", params={"q": "miss"}, timeout=10).text
    finally:
        next(serve, None)
    assert [v["number"] for v in post["versions"]] == [2, 1]
    assert "version 1" in post["citation"] and "hey :)" in html.split("<h2>Versions</h2>")[0]
    assert "Changes from version 2" in html
    assert "matched in version 2, <strong>edited out</strong>" in found and "not in the current text" in found


def test_a_repost_read_without_its_original_is_never_an_edit(db_path: Path, tmp_path: Path) -> None:
    """twarc-csv's real retweet (two_tweets.jsonl), its original expanded beside it, and the same
    retweet from a collection where X did not expand it (the original deleted or withheld: X names it in
    `errors`): its own text is then "RT @user: " and the original cut short. A repost cannot be edited;
    that reading replaced the complete text as an `edited` version."""
    page = json.loads((TWARC / "two_tweets.jsonl").read_text())
    original = page["data"][0]["referenced_tweets"][0]["id"]
    unexpanded = {**copy.deepcopy(page), "errors": [{
        "value": original, "detail": f"Could not find tweet with referenced_tweets.id: [{original}].",
        "title": "Not Found Error", "resource_type": "tweet", "parameter": "referenced_tweets.id",
        "resource_id": original, "type": "https://api.twitter.com/2/problems/resource-not-found"}]}
    del unexpanded["includes"]["tweets"]
    complete = page["includes"]["tweets"][0]["text"]
    for first, then, events_after in ((page, unexpanded, ["first_seen"]),
                                      (unexpanded, page, ["first_seen", "reextracted"])):
        db = tmp_path / f"{len(events_after)}.db"
        for number, body in enumerate((first, then)):
            path = tmp_path / f"{len(events_after)}-{number}.jsonl"
            path.write_text(json.dumps(body) + "\n")
            code, output = run(db, path)
            assert code == 0 and "0 edited" in output, output
        assert events(db, page["data"][0]["id"]) == events_after
        assert rows(db, "SELECT text FROM posts") == [(complete,)]  # the complete reading, whichever came first


# the Poll object's example in X's data dictionary (developer.x.com, "Poll object"): a tweet that asks
# its question in the text and answers it in the options
POLL_PAGE = {
    "data": [{"text": "C#", "id": "1199786642791452673", "author_id": "783214",
              "created_at": "2019-11-27T20:26:41.000Z", "edit_history_tweet_ids": ["1199786642791452673"],
              "attachments": {"poll_ids": ["1199786642468413448"]}}],
    "includes": {"polls": [{"id": "1199786642468413448", "voting_status": "closed", "duration_minutes": 1440,
                            "options": [{"position": 1, "label": "\u201cC Sharp\u201d", "votes": 795},
                                        {"position": 2, "label": "\u201cC Hashtag\u201d", "votes": 156}],
                            "end_datetime": "2019-11-28T20:26:41.000Z"}],
                 "users": [{"id": "783214", "username": "XDevelopers", "name": "Developers"}]}}


def test_a_poll_s_options_are_content_and_a_reading_without_them_no_edit(tmp_path: Path) -> None:
    """A poll tweet's text is "C#": what it asked was in the options, which the archive kept nowhere.
    They are content now (their votes are not); a response that did not expand the poll (a collection
    made without `attachments.poll_ids`) neither replaces them nor counts as an edit."""
    bare = copy.deepcopy(POLL_PAGE)
    del bare["includes"]["polls"]
    recounted = copy.deepcopy(POLL_PAGE)
    recounted["includes"]["polls"][0]["options"][0]["votes"] = 796
    tweet = POLL_PAGE["data"][0]["id"]
    for order, events_after in (((POLL_PAGE, bare, recounted), ["first_seen"]),
                                ((bare, POLL_PAGE, {**bare, "__twarc": {"retrieved_at": "2019-12-01T00:00:00Z"}}),
                                 ["first_seen", "reextracted"])):
        db = tmp_path / f"{len(events_after)}.db"
        for number, body in enumerate(order):
            path = tmp_path / f"{len(events_after)}-{number}.jsonl"
            path.write_text(json.dumps(body) + "\n")
            code, output = run(db, path)
            assert code == 0 and "0 edited" in output, output
        assert events(db, tweet) == events_after
        assert rows(db, "SELECT v.text, json_extract(v.extra, '$.poll') FROM posts p "
                        "JOIN versions v ON v.id = p.current_version") == [("C#", '["“C Sharp”","“C Hashtag”"]')]
