"""How a page's charset is read: each label by the Encoding Standard's own table (encodings.json), a
<meta> declaration by html5lib's encoding-sniffing tests, and both end to end over loopback HTTP into
SQLite."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.fetch.charset import choose_charset
from archiver.fetch.prescan import encoding, meta_charset
from archiver.models import Observation, Request, Source
from archiver.platforms.statement import parse_page
from archiver.view import ArchiveView

FIXTURES = Path(__file__).parent / "fixtures"
STANDARD = json.loads((FIXTURES / "whatwg_encoding" / "encodings.json").read_text())
# The Standard's names Python spells otherwise
_PYTHON = {"iso-8859-8-i": "iso8859-8", "x-mac-cyrillic": "mac-cyrillic", "windows-874": "cp874"}
# Text each multi-byte encoding can carry: a UN body's name in Chinese, Japanese and Korean
_PHRASES = ("人权理事会的声明", "人權理事會的聲明", "人権理事会の声明", "인권이사회 성명")


def _html5lib_cases() -> list[tuple[str, bytes, str]]:
    cases = []
    for path in sorted((FIXTURES / "html5lib_encoding").glob("*.dat")):
        for number, test in enumerate(path.read_bytes().split(b"#data\n")[1:]):
            data, expected = test.split(b"\n#encoding\n")
            cases.append((f"{path.stem}-{number}", data, expected.decode().strip()))
    return cases


# Where html5lib's expectation is older than the Standard, which finds no declaration in these
_NOTHING_BY_THE_STANDARD = {
    b"<meta <meta charset='euc_jp'>": "euc_jp is Python's codec name, not one of the Standard's labels",
    b"<meta       charset    =     'euc_jp'>": "the same",
    b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset='utf-8\">":
        "an unmatched quote in content= gives nothing",
}
# nor in a charset given in content= without http-equiv="content-type" exactly (the pragma rule)
_PRAGMA = b'http-equiv="content-type"'


@pytest.mark.parametrize(("data", "expected"), [pytest.param(data, expected, id=name)
                                                for name, data, expected in _html5lib_cases()])
def test_a_meta_declaration_is_found_as_the_html_standard_prescans(data: bytes, expected: str) -> None:
    if data.startswith(codecs.BOM_UTF8):
        assert choose_charset(data, "text/html; charset=iso-8859-1")[0] == "utf-8-sig"  # the BOM outranks all
        return
    if data in _NOTHING_BY_THE_STANDARD or (b"content=" in data and _PRAGMA not in data.lower()):
        assert meta_charset(data) is None
        return
    # html5lib expects windows-1252, the default, where the prescan finds nothing
    assert (meta_charset(data) or "windows-1252") == encoding(expected)


def _labelled() -> list[tuple[str, str]]:
    return [(item["name"], label) for group in STANDARD for item in group["encodings"] for label in item["labels"]
            if item["name"] not in ("utf-8", "utf-16be", "utf-16le", "replacement", "x-user-defined")]


def _sample(name: str) -> str:
    """Text in `name` whose bytes are not also UTF-8: for a single-byte encoding every character it has
    from 0x80 on, for a multi-byte one the first phrase it can carry whole."""
    codec = _PYTHON.get(name, name)
    if any(item["name"] == name for item in STANDARD[1]["encodings"]):
        return bytes(range(0x80, 0x100)).decode(codec, errors="ignore")  # leaving out the bytes it leaves undefined
    return next(phrase for phrase in _PHRASES if phrase.encode(codec, errors="ignore").decode(codec) == phrase)


@pytest.mark.parametrize(("name", "label"), _labelled())
def test_every_label_of_the_encoding_standard_reads_the_text_in_its_encoding(name: str, label: str) -> None:
    """`charset=ISO8859-1` or `l1` is windows-1252 on the web and `iso-8859-9` windows-1254: read as Python's
    Latin-1 or Latin-5, a page's curly quotes and dashes (0x80-0x9F) became control characters."""
    text = "<p>" + _sample(name) + "</p>"
    body = text.encode(_PYTHON.get(name, name))
    in_header = choose_charset(body, f"text/html; charset={label}")
    assert body.decode(in_header[0]) == text, in_header
    in_page = choose_charset(f'<meta charset="{label}">'.encode() + body, "text/html")
    assert (body.decode(in_page[0]), in_page[1]) == (text, {"charset_from": "document"})


@pytest.mark.parametrize("label", ["koi8-r", "iso-8859-5", "windows-1256", "ibm866", "x-mac-cyrillic"])
def test_a_single_byte_claim_gives_way_to_bytes_that_are_utf8(label: str) -> None:
    """Any bytes decode in a single-byte encoding, so a stale claim of one would turn a UTF-8 page into
    mojibake; only the windows-125x and ISO 8859 names used to be recognised as such."""
    page = "<p>Заявление Совета по правам человека — «без промедления»</p>".encode()
    for body, content_type in ((page, f"text/html; charset={label}"),
                               (f"<meta charset={label}>".encode() + page, "text/html")):
        codec, notes = choose_charset(body, content_type)
        assert (codec, notes["charset_from"]) == ("utf-8", "utf-8 validity")


def test_labels_the_standard_does_not_know_are_not_claims() -> None:
    body = "<p>«Nous réaffirmons notre soutien», a précisé la porte-parole.</p>".encode("cp1252")
    for label in ("euc_jp", "cp437", "utf-7", "iso-2022-kr"):  # Python codecs, and one the Standard disarms
        _, notes = choose_charset(body, f"text/html; charset={label}")
        assert notes["declared_charset"] == label and notes["charset_from"] != "header"


SAID = ("<p>“We call for an independent investigation,” the Special Rapporteur said — the State’s reply was "
        "“insufficient”.</p>")


def test_a_page_read_anew_in_its_right_charset_is_a_re_reading_never_an_edit(archive: Archive,
                                                                             view: ArchiveView) -> None:
    """A page archived when its `iso_8859-1` was read as Latin-1 (curly quotes lost as control characters) and
    polled again unchanged: the archive's reading changed, not the page, so the right text is a version
    with a `reextracted` event, not an edit."""
    from tests.official_fixtures import STATEMENT_BODY, exchange, statement_page

    url = "https://party.example/en/statements/latin"
    page = statement_page("Latin", STATEMENT_BODY + SAID, date=None).decode().replace(
        '<meta charset="utf-8">', '<meta charset="iso_8859-1">').encode("cp1252")
    src = Source(id="party", kind="webpage", locator="https://party.example/en/statements",
                 options={"item": "div.views-row", "link": "h3 a", "title": "h3"})
    codec = choose_charset(page, "text/html")[0]
    assert codec == "cp1252"

    def read(charset: str, extractor_version: str | None = None) -> Observation:
        observation = parse_page(src, Request(url), exchange(url, page, content_type="text/html",
                                                              charset=charset), view).observation
        if extractor_version:
            observation.posts[0].extractor_version = extractor_version
        return observation

    before = read("iso8859-1", extractor_version="2")  # as the archive read it until this change
    # read as Latin-1, the quotes and dashes were control characters, which the text extraction dropped
    assert "We call for an independent investigation, the Special Rapporteur said  the States reply" in \
        before.posts[0].versions[0].text
    archive.record(exchange(url, page, content_type="text/html", charset="iso8859-1"), before, source_id=src.id)
    result = archive.record(exchange(url, page, content_type="text/html", charset=codec), read(codec),
                            source_id=src.id)
    assert (result.edited, result.reextracted) == (0, 1)
    text, = archive.conn.execute("SELECT text FROM versions ORDER BY id DESC LIMIT 1").fetchone()
    assert "“We call for an independent investigation,”" in text


def test_a_declaration_in_a_comment_or_an_attribute_is_not_the_page_s(httpserver, tmp_path: Path) -> None:
    """Over HTTP into SQLite: a statement page served without a charset whose real declaration follows a
    stale one in a comment, and one declaring `iso_8859-1` through http-equiv; each version's text is
    stored as the page shows it."""
    from tests.official_fixtures import STATEMENT_BODY, Site, fetch, listing_page, party_source, rows, statement_page

    site = Site(httpserver)
    cards = [("/en/statements/commented", "Commented", "2026-06-01T09:00:00Z"),
             ("/en/statements/latin", "Latin", "2026-05-28T12:00:00Z")]
    site.put("/en/statements", listing_page(cards))
    commented = statement_page("Commented", STATEMENT_BODY + SAID, date=None).decode().replace(
        '<meta charset="utf-8">', '<!-- <meta charset="koi8-r"> --><img alt="<meta charset=koi8-u>">'
                                  '<meta charset="utf-8">')
    site.put("/en/statements/commented", commented.encode(), "text/html")
    latin = statement_page("Latin", STATEMENT_BODY + SAID, date=None).decode().replace(
        '<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=iso_8859-1">')
    site.put("/en/statements/latin", latin.encode("cp1252"), "text/html")
    config, db = party_source(site, tmp_path)
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 2" in result.output, result.output
    stored = rows(db, "SELECT p.title, v.text FROM versions v JOIN posts p ON p.id = v.post_id ORDER BY p.id")
    assert [title for title, _ in stored] == ["Commented", "Latin"]
    for _, text in stored:
        assert "“We call for an independent investigation,” the Special Rapporteur said — the State’s" in text
    assert rows(db, "SELECT c.charset FROM captures c WHERE c.requested_url LIKE '%/en/statements/%' "
                    "ORDER BY c.id") == [("utf-8",), ("cp1252",)]


def stray_byte_page() -> bytes:
    """A real UTF-8 statement (htmldate's paris-luttes.info test page) with one Latin-1 byte in its footer,
    as a legacy include leaves it."""
    import gzip

    body = gzip.decompress((FIXTURES / "htmldate" / "pages" / "paris-luttes.info.html.gz").read_bytes())
    end = body.rfind(b"</body>")
    return body[:end] + b"<p>\xa9 2019</p>" + body[end:]


def test_a_claim_of_utf8_holds_against_a_stray_byte_and_not_against_a_wrong_label() -> None:
    """A browser keeps a page's UTF-8 and shows a stray byte as U+FFFD; detection, which takes any
    charset decoding every byte, read the whole statement as an Urdu code page. A page whose bytes are
    Latin-1 throughout is still read as what it is, whatever its label."""
    page = stray_byte_page()
    for content_type in ("text/html; charset=utf-8", "text/html"):  # the header's claim, the <meta>'s
        codec, notes = choose_charset(page, content_type)
        assert (codec, notes["invalid_bytes"]) == ("utf-8", 1), notes
        assert "un enjeu stratégique pour la doctrine du maintien de l’ordre" in page.decode(codec, "replace")
    latin = f"<meta charset=utf-8>{SAID}<p>Genève, le 3 février</p>".encode("cp1252")
    codec, notes = choose_charset(latin, "text/html; charset=utf-8")
    assert codec == "cp1252" and "invalid_bytes" not in notes, notes


def test_a_statement_with_a_stray_byte_is_archived_in_its_own_utf8(httpserver, tmp_path: Path) -> None:
    from tests.official_fixtures import Site, fetch, listing_page, party_source, rows

    site = Site(httpserver)
    site.put("/en/statements", listing_page([("/en/statements/grenades", "Grenades", "2019-06-29T09:00:00Z")]))
    site.put("/en/statements/grenades", stray_byte_page(), "text/html; charset=utf-8")
    config, db = party_source(site, tmp_path)
    result = fetch(config, db, "party")
    assert result.exit_code == 0 and "new 1" in result.output, result.output
    (text,), = rows(db, "SELECT text FROM versions")
    assert "Le déroulé des faits qui ont conduit à la mort de Rémi Fraisse" in text
    assert rows(db, "SELECT charset, json_extract(details, '$.invalid_bytes') FROM captures "
                    "WHERE requested_url LIKE '%/grenades'") == [("utf-8", 1)]
