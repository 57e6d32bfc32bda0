"""UN Special Procedures communications at the parser level: the table rows, each letter's PDF
text, a reply arriving as a new version, a withdrawn letter as a deletion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.models import Request, Source
from archiver.platforms import ParseError, un_communications
from archiver.view import ArchiveView
from tests.official_fixtures import communications_page, exchange, pdf_letter

LISTING = "https://spcommreports.ohchr.org/LatestReports/CommunicationSent"
ROWS = [
    {"gid": "31021", "date": "27 Feb 2026", "state": "Canada", "type": "JAL", "ref": "CAN 3/2026",
     "mandates": ["Special Rapporteur on extrajudicial, summary or arbitrary executions",
                  "Special Rapporteur on the situation of human rights defenders"],
     "summary": "Information received concerning threats to the life of a human rights defender."},
    {"gid": "30774", "date": "12 Feb 2026", "state": "Iran (Islamic Republic of)", "type": "UA", "ref": "IRN 4/2026",
     "mandates": ["Special Rapporteur on the situation of human rights in the Islamic Republic of Iran"],
     "summary": "Information received concerning the imminent execution of protesters.",
     "replies": [("4411", "20 Mar 2026")]},
]
LETTER = pdf_letter(["Mandates of the Special Rapporteur on extrajudicial, summary or arbitrary executions",
                     "REFERENCE: AL CAN 3/2026", "Excellency,",
                     "We have the honour to address you in our capacity as Special Rapporteurs."])



def source(**options) -> Source:
    return Source(id="sp", kind="un_communications", locator=LISTING, organisation="OHCHR", options=options)


def test_rows_are_read_into_letter_requests(view: ArchiveView) -> None:
    parsed = un_communications.parse(source(), Request(LISTING, meta=(("page", 1),)),
                                     exchange(LISTING, communications_page(ROWS)), view)
    assert [r.url for r in parsed.follow] == [
        "https://spcommreports.ohchr.org/TMResultsBase/DownLoadPublicCommunicationFile?gId=31021",
        "https://spcommreports.ohchr.org/TMResultsBase/DownLoadPublicCommunicationFile?gId=30774"]
    row = json.loads(parsed.follow[1].meta_dict()["row"])
    assert row["date"] == "12 Feb 2026" and row["addressee"] == "Iran (Islamic Republic of)"
    assert (row["type"], row["reference"]) == ("UA", "IRN 4/2026")
    assert row["summary"] == "Information received concerning the imminent execution of protesters."
    assert row["replies"] == [{"text": "20 Mar 2026",
                               "url": "https://spcommreports.ohchr.org/TMResultsBase/DownLoadFile?gId=4411"}]


def test_letter_and_reply_links_resolve_against_the_page_s_base(view: ArchiveView) -> None:
    page = communications_page(ROWS).decode().replace("/TMResultsBase/", "TMResultsBase/").replace(
        "<head>", '<head><base href="https://spcommreports.ohchr.org/">')
    listing = f"{LISTING}/Index"
    parsed = un_communications.parse(source(), Request(listing, meta=(("page", 1),)), exchange(listing, page.encode()),
                                     view)
    assert parsed.follow[0].url == ("https://spcommreports.ohchr.org/TMResultsBase/"
                                    "DownLoadPublicCommunicationFile?gId=31021")
    assert json.loads(parsed.follow[1].meta_dict()["row"])["replies"][0]["url"] == (
        "https://spcommreports.ohchr.org/TMResultsBase/DownLoadFile?gId=4411")


def test_next_page_followed_up_to_max_pages(view: ArchiveView) -> None:
    src = source(next="a.next", max_pages=2)
    first = un_communications.parse(src, Request(LISTING, meta=(("page", 1),)),
                                    exchange(LISTING, communications_page(ROWS)), view)
    nxt = [r for r in first.follow if r.purpose == "listing"]
    assert [r.url for r in nxt] == [LISTING + "?page=2"]
    second = un_communications.parse(src, nxt[0], exchange(nxt[0].url, communications_page(ROWS)), view)
    assert [r for r in second.follow if r.purpose == "listing"] == []


def test_letter_pdf_text_and_row_fields_make_the_post(archive: Archive, view: ArchiveView) -> None:
    src = source()
    parsed = un_communications.parse(src, Request(LISTING), exchange(LISTING, communications_page(ROWS)), view)
    item = parsed.follow[0]
    post, = un_communications.parse(src, item, exchange(item.url, LETTER, content_type="application/pdf"),
                                    view).observation.posts
    assert (post.platform, post.native_id, post.kind) == ("un_communications", "CAN 3/2026", "letter")
    assert post.versions[0].title == "JAL CAN 3/2026 Canada"
    assert "We have the honour to address you" in post.versions[0].text
    extra = post.versions[0].extra
    assert extra["addressee"] == "Canada" and extra["pdf_pages"] == 1 and len(extra["mandates"]) == 2
    assert (post.published_at, post.published_raw, post.published_where) == (
        "2026-02-27T00:00:00.000000Z", "27 Feb 2026", "listing:date [read by dateparser (DMY); date only]")
    assert post.versions[0].raw.startswith("<tr>")


def test_a_reply_is_a_new_version_and_a_withdrawn_letter_a_deletion(archive: Archive, view: ArchiveView) -> None:
    src = source()
    listing = un_communications.parse(src, Request(LISTING), exchange(LISTING, communications_page(ROWS)), view)
    for item in listing.follow:
        pdf = exchange(item.url, LETTER, content_type="application/pdf")
        archive.record(pdf, un_communications.parse(src, item, pdf, view).observation, source_id=src.id)
    assert un_communications.parse(src, Request(LISTING), exchange(LISTING, communications_page(ROWS)),
                                   view).follow == []
    replied = [{**ROWS[0], "replies": [("5000", "01 Apr 2026")]}, ROWS[1]]
    item, = un_communications.parse(src, Request(LISTING), exchange(LISTING, communications_page(replied)),
                                    view).follow
    assert not item.conditional
    pdf = exchange(item.url, LETTER, content_type="application/pdf")
    result = archive.record(pdf, un_communications.parse(src, item, pdf, view).observation, source_id=src.id)
    assert result.edited == 1
    gone = un_communications.parse(src, item, exchange(item.url, b"Not Found", status=404), view)
    assert [(g.native_id, g.confirmed) for g in gone.observation.gone] == [("CAN 3/2026", True)]


def test_a_page_without_the_table_fails_clearly(view: ArchiveView) -> None:
    with pytest.raises(ParseError, match="no communications table"):
        un_communications.parse(source(), Request(LISTING), exchange(LISTING, b"<html><p>Maintenance</p></html>"),
                                view)


def test_communications_listing_and_letter_end_to_end(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, rows, write_config

    site = Site(httpserver)
    site.put("/LatestReports/CommunicationSent", communications_page(ROWS[:1]))
    pdf_path = "/TMResultsBase/DownLoadPublicCommunicationFile?gId=31021"
    site.put(pdf_path, LETTER, "application/pdf")
    config = write_config(tmp_path / "sources.toml", [
        {"id": "sp", "kind": "un_communications", "locator": site.url("/LatestReports/CommunicationSent"),
         "organisation": "OHCHR Special Procedures"}])
    db = tmp_path / "archive.db"
    first = fetch(config, db, "sp")
    assert first.exit_code == 0 and "new 1" in first.output, first.output
    post = rows(db, "SELECT platform, native_id, kind, title, published_at, url FROM posts")
    assert post == [("un_communications", "CAN 3/2026", "letter", "JAL CAN 3/2026 Canada",
                     "2026-02-27T00:00:00.000000Z", site.url(pdf_path))]
    letter = rows(db, "SELECT v.text, c.content_type, p.size, substr(p.data, 1, 5) FROM versions v "
                      "JOIN captures c ON c.id = v.capture_id JOIN payloads p ON p.sha256 = c.payload_sha256")
    text, content_type, size, _ = letter[0]
    assert "We have the honour to address you" in text
    assert content_type == "application/pdf" and size == len(LETTER)  # the letter itself is kept

    site.put("/LatestReports/CommunicationSent",
             communications_page([{**ROWS[0], "replies": [("5000", "01 Apr 2026")]}]))
    second = fetch(config, db, "sp")
    assert "edited 1" in second.output, second.output
    extras = [json.loads(e) for (e,) in rows(db, "SELECT extra FROM versions ORDER BY number")]
    assert [len(e.get("replies", [])) for e in extras] == [0, 1]
    # a reply arrived: the letter's text is as it was, and the event says what changed
    assert rows(db, "SELECT json_extract(details, '$.changed') FROM events WHERE type = 'edited'") == [
        ('["extra.replies"]',)]


@pytest.mark.parametrize(("written", "options", "expected"), [
    ("02/12/2020", {}, "2020-12-02T00:00:00.000000Z"),  # the table writes day first
    ("13/03/2014", {}, "2014-03-13T00:00:00.000000Z"),
    ("12/02/2020", {"date_order": "MDY"}, "2020-12-02T00:00:00.000000Z"),  # a source may say otherwise
])
def test_table_dates_are_read_day_first(view: ArchiveView, written: str, options: dict, expected: str) -> None:
    src = source(**options)
    rows = [{**ROWS[0], "date": written}]
    item = un_communications.parse(src, Request(LISTING), exchange(LISTING, communications_page(rows)), view).follow[0]
    post, = un_communications.parse(src, item, exchange(item.url, LETTER, content_type="application/pdf"),
                                    view).observation.posts
    assert (post.published_at, post.published_raw) == (expected, written)
    assert post.published_where.startswith("listing:date [read by dateparser (")


def test_a_listing_cut_short_is_not_read(view: ArchiveView) -> None:
    page = communications_page(ROWS)
    cut = page[: page.index(b"Information received concerning the imminent")]  # inside the second row
    with pytest.raises(ParseError, match="cut short"):
        un_communications.parse(source(), Request(LISTING), exchange(LISTING, cut), view)
