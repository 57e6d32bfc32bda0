"""WARC export: captures made over 127.0.0.1 by the real fetch layer, recorded by the archive, written
as WARC 1.1 and read back with warcio (and `warcio check`)."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from warcio.archiveiterator import ArchiveIterator
from werkzeug import Request as WsgiRequest
from werkzeug import Response

from archiver.archive import Archive
from archiver.cli import main
from archiver.config import Settings
from archiver.fetch import Fetcher
from archiver.models import Request, Source
from archiver.view import ArchiveView
from archiver.warc import sha256_label

TOKEN = "warc-test-token-5e4d3c2b1a"
PAGE = b"<html><body><h1>Joint statement</h1><p>Ministers met today.</p></body></html>" * 20
SOURCE = Source(id="s1", kind="webpage", locator="http://127.0.0.1/", options={"allow_private": True})


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


def page(request: WsgiRequest) -> Response:
    if request.headers.get("If-None-Match") == '"e1"':
        return Response(status=304, headers={"ETag": '"e1"'})
    return Response(gzip.compress(PAGE), headers={"Content-Type": "text/html; charset=utf-8",
                                                  "Content-Encoding": "gzip", "ETag": '"e1"'})


@pytest.fixture
def filled(server: HTTPServer, archive: Archive, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Captures: a gzipped page, the same page again, a 304 for it, another source's page, a failure."""
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request("/page").respond_with_handler(page)
    server.expect_request("/other").respond_with_data("other page", content_type="text/plain")
    url = server.url_for("/page")
    ids = []
    with Fetcher(Settings(host_delay=0.0, retries=0)) as fetcher:
        for validators in (None, None, "stored"):
            view = ArchiveView(db_path)
            known = view.validators(url) if validators else None
            view.close()
            exchange = fetcher.fetch(Request(url, secret="X_BEARER_TOKEN"), SOURCE, known)
            ids.append(archive.record(exchange, source_id="s1").capture_id)
        other = fetcher.fetch(Request(server.url_for("/other")), SOURCE, None)
        ids.append(archive.record(other, source_id="s2").capture_id)
        refused = fetcher.fetch(Request(url), Source("s3", "webpage", "x"), None)  # private address refused
        ids.append(archive.record(refused, source_id="s3").capture_id)
    return ids


def export(db_path: Path, out: Path, *options: str) -> str:
    result = CliRunner().invoke(main, ["export", "warc", "--db", str(db_path), *options, str(out)])
    assert result.exit_code == 0, result.output
    return result.output


def records(path: Path) -> list:
    with path.open("rb") as stream:
        found = []
        for record in ArchiveIterator(stream):
            record.body = record.content_stream().read()
            found.append(record)
        return found


def test_warc_holds_requests_responses_and_revisits(filled: list[int], archive: Archive, db_path: Path,
                                                     tmp_path: Path, server: HTTPServer) -> None:
    out = tmp_path / "out.warc.gz"
    output = export(db_path, out)
    assert "5 request, 3 response, 2 revisit, 1 warcinfo" in output and "1 capture(s)" in output
    found = records(out)
    assert [r.rec_type for r in found] == ["warcinfo", "request", "response", "request", "response", "request",
                                           "revisit", "request", "revisit", "request", "response"]
    # the robots.txt read before the first page is exported with it, as a crawl's WARC holds it
    assert found[2].rec_headers.get_header("WARC-Target-URI") == server.url_for("/robots.txt")
    assert found[2].http_headers.get_statuscode() == "404"
    captures = archive.conn.execute("SELECT id, started_at, payload_sha256, final_url FROM captures "
                                    "WHERE kind = 'http' ORDER BY id").fetchall()
    first = found[4]
    header = first.rec_headers.get_header
    assert first.rec_headers.protocol == "WARC/1.1"
    assert header("WARC-Date") == captures[0][1] and header("WARC-Target-URI") == captures[0][3]
    assert header("WARC-IP-Address") == "127.0.0.1"
    assert header("WARC-Payload-Digest") == sha256_label(captures[0][2])
    assert hashlib.sha256(first.body).hexdigest() == captures[0][2] and first.body == PAGE
    assert header("WARC-Block-Digest").startswith("sha256:")
    http = first.http_headers
    assert http.get_statuscode() == "200" and http.get_header("Content-Encoding") is None
    assert http.get_header("X-Archiver-Original-Content-Encoding") == "gzip"
    assert http.get_header("Content-Length") == str(len(PAGE))
    assert found[3].rec_headers.get_header("WARC-Concurrent-To") == header("WARC-Record-ID")
    assert found[3].http_headers.get_header("Authorization") == "Bearer [redacted X_BEARER_TOKEN]"
    for revisit, status in ((found[6], "200"), (found[8], "304")):
        assert revisit.rec_headers.get_header("WARC-Profile") == \
            "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        assert revisit.rec_headers.get_header("WARC-Refers-To") == header("WARC-Record-ID")
        assert revisit.rec_headers.get_header("WARC-Payload-Digest") == sha256_label(captures[0][2])
        assert revisit.http_headers.get_statuscode() == status
    other = found[10]
    assert hashlib.sha256(other.body).hexdigest() == captures[3][2]
    with gzip.open(out) as unpacked:
        assert TOKEN.encode() not in unpacked.read()


def test_warcio_check_passes(filled: list[int], db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "check.warc.gz"
    export(db_path, out)
    warcio = Path(sys.executable).parent / "warcio"
    checked = subprocess.run([str(warcio), "check", "-v", str(out)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "digest pass" in checked.stdout


def test_filters_by_source_and_time(filled: list[int], archive: Archive, db_path: Path, tmp_path: Path) -> None:
    export(db_path, tmp_path / "s2.warc", "--source", "s2")
    only = records(tmp_path / "s2.warc")
    assert [r.rec_type for r in only] == ["warcinfo", "request", "response"]
    assert only[2].body == b"other page"
    third = archive.conn.execute("SELECT started_at FROM captures WHERE id = ?", (filled[2],)).fetchone()[0]
    export(db_path, tmp_path / "late.warc.gz", "--since", third)
    late = records(tmp_path / "late.warc.gz")
    # the 304 still points at its payload (by URI and date) although that response is not in this file
    assert [r.rec_type for r in late] == ["warcinfo", "request", "revisit", "request", "response"]
    assert late[2].rec_headers.get_header("WARC-Refers-To") is None
    assert late[2].rec_headers.get_header("WARC-Refers-To-Target-URI").endswith("/page")


def test_a_bad_since_is_one_clear_line(filled: list[int], db_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "warc", "--db", str(db_path), "--since", "yesterday",
                                       str(tmp_path / "x.warc.gz")])
    assert result.exit_code == 2
    assert "--since 'yesterday': not an ISO 8601 time" in result.output
    assert not (tmp_path / "x.warc.gz").exists()


def test_an_https_capture_says_its_protocols_cipher_suite_and_certificate(db_path: Path, archive: Archive,
                                                                         tmp_path: Path) -> None:
    """Over TLS on loopback: the capture's response and request records carry `WARC-Protocol` (`http/1.x`,
    then `tls/1.x`) and `WARC-Cipher-Suite`, as the IIPC's field proposals write them, and a metadata record
    names the certificate the server showed; `warcio check` passes."""
    from tests.certs import server_context

    context, ca = server_context(tmp_path / "tls")
    secure = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    secure.expect_request("/statement").respond_with_data("<p>Joint statement</p>", content_type="text/html")
    secure.start()
    try:
        with Fetcher(Settings(host_delay=0.0, retries=0, ca_file=str(ca), respect_robots=False)) as fetcher:
            exchange = fetcher.fetch(Request(secure.url_for("/statement")), SOURCE, None)
    finally:
        secure.clear()
        secure.stop()
    archive.record(exchange, source_id="s1")
    out = tmp_path / "tls.warc.gz"
    export(db_path, out)
    tls = exchange.details["tls"]
    found = records(out)
    assert [record.rec_type for record in found] == ["warcinfo", "request", "response", "metadata"]
    certificate = found[3]  # which certificate the server showed, to look up in Certificate Transparency logs
    assert certificate.rec_headers.get_header("Content-Type") == "application/warc-fields"
    assert certificate.rec_headers.get_header("WARC-Concurrent-To") == found[2].rec_headers.get_header(
        "WARC-Record-ID")
    assert certificate.body.decode().split("\r\n")[:3] == [
        f"tls-certificate-sha256: {tls['certificate_sha256']}", "tls-subject: 127.0.0.1",
        "tls-issuer: Loopback TLS Root"]
    for record in found[1:3]:
        fields = [(name, value) for name, value in record.rec_headers.headers if name.startswith("WARC-Proto")
                  or name == "WARC-Cipher-Suite"]
        assert fields == [("WARC-Protocol", (exchange.http_version or "").lower()),
                          ("WARC-Protocol", "tls/" + tls["version"][4:]),
                          ("WARC-Cipher-Suite", tls["cipher"])], (record.rec_type, fields)
    assert tls["cipher"].startswith("TLS_")
    warcio = Path(sys.executable).parent / "warcio"
    checked = subprocess.run([str(warcio), "check", "-v", str(out)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
