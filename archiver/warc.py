"""WARC 1.1 export of stored captures (ISO 28500), written with warcio: a warcinfo record, then for
each HTTP capture its request, and its response or, when the payload was already written (or the
server answered 304), a revisit record pointing at the response that holds it, and over https a
metadata record naming the certificate the server showed. docs/warc.md says how decoded payloads are
represented."""

from __future__ import annotations

import base64
import datetime as dt
import http
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from archiver import __version__
from archiver.database import ArchiveError, connect
from archiver.models import format_time, parse_time
from archiver.payloads import decode_payload
from archiver.progress import bar

# Payloads are stored decoded, so these no longer describe the bytes in the record; the values the
# server sent are kept under ORIGINAL_PREFIX + name.
_REWRITTEN = ("content-encoding", "transfer-encoding", "content-length")
ORIGINAL_PREFIX = "X-Archiver-Original-"


class _SHA256Writer(WARCWriter):
    """warcio computes block and payload digests itself; the archive's digests are SHA-256."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


@dataclass
class WarcReport:
    path: Path
    records: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # captures without an HTTP response (failures, imports)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.records.items()))
        return f"wrote {self.path}: {counts}; {self.skipped} capture(s) without an HTTP response skipped"


def sha256_label(hex_digest: str) -> str:
    """The WARC digest form for a stored hex SHA-256 (base32, as warcio and most tools write it)."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def export_warc(db_path: str | Path, out_path: str | Path, *, source_id: str | None = None,
                since: str | None = None, capture_ids: list[int] | None = None, progress: bool = False) -> WarcReport:
    """Write the captures of `source_id` (all when None) started at or after `since` (and, given
    `capture_ids`, only those) to `out_path` (gzip per record when the name ends in .gz)."""
    out_path = Path(out_path)
    if since is not None:
        since = _normalised(since)
    conn = connect(db_path, readonly=True)
    report = WarcReport(out_path)
    partial = out_path.with_name(out_path.name + ".partial")  # the file appears only when complete
    try:
        with partial.open("wb") as stream:
            writer = _SHA256Writer(stream, gzip=out_path.name.endswith(".gz"), warc_version="1.1")
            _count(report, writer, writer.create_warcinfo_record(out_path.name, {
                "software": f"archiver/{__version__} (warcio)",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "description": "Exported from an archiver database. Payloads are stored with Content-Encoding "
                               "removed; see the X-Archiver-Original-* HTTP headers.",
                "archiver-source": source_id or "all",
                "archiver-since": since or "",
            }))
            where, params = _filter(source_id, since, capture_ids)
            total = conn.execute(f"SELECT count(*) FROM captures c WHERE {where}", params).fetchone()[0]
            with bar(f"exporting {out_path.name}", total, " captures", enabled=progress) as shown:
                _write_captures(conn, writer, report, _captures(conn, where, params), shown.update)
        partial.replace(out_path)
    except OSError as exc:
        raise ArchiveError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    finally:
        conn.close()
        partial.unlink(missing_ok=True)
    return report


def _normalised(moment: str) -> str:
    """`since` as stored times are written, so that text comparison orders it right (UTC if no zone)."""
    try:
        parsed = parse_time(moment)
    except ValueError as exc:
        raise ArchiveError(f"--since {moment!r}: not an ISO 8601 time") from exc
    return format_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC))


def _count(report: WarcReport, writer: WARCWriter, record: Any) -> None:
    writer.write_record(record)
    report.records[record.rec_type] = report.records.get(record.rec_type, 0) + 1


def _filter(source_id: str | None, since: str | None, capture_ids: list[int] | None = None) -> tuple[str, list[str]]:
    """The WHERE clause (on captures `c`) choosing what is exported, and its parameters."""
    where, params = ["1 = 1"], []
    if capture_ids is not None:
        where.append(f"c.id IN ({', '.join(str(int(i)) for i in capture_ids) or 'NULL'})")
    if source_id is not None:
        where.append("c.source_id = ?")
        params.append(source_id)
    if since is not None:
        where.append("c.started_at >= ?")
        params.append(since)
    return " AND ".join(where), params


def _captures(conn: sqlite3.Connection, where: str, params: list[str]) -> Iterator[sqlite3.Row]:
    yield from conn.execute(
        "SELECT c.*, p.compression, p.data FROM captures c LEFT JOIN payloads p ON p.sha256 = c.payload_sha256 "
        f"AND c.revisit_of IS NULL WHERE {where} ORDER BY c.id", params)


@dataclass
class _Written:
    record_id: str
    uri: str
    date: str


def _write_captures(conn: sqlite3.Connection, writer: WARCWriter, report: WarcReport, rows: Iterator[sqlite3.Row],
                    advance: Callable[[], object]) -> None:
    first_with_payload: dict[str, _Written] = {}
    for row in rows:
        advance()
        if row["kind"] not in ("http", "robots") or row["status"] is None:
            report.skipped += 1
            continue
        uri = row["final_url"] or row["requested_url"]
        date = row["started_at"]
        common = {"WARC-Date": date, "WARC-Target-URI": uri}
        if row["server_ip"]:
            common["WARC-IP-Address"] = row["server_ip"]
        request = _request_record(writer, row, uri, common)
        digest = row["payload_sha256"]
        earlier = first_with_payload.get(digest) if digest else None
        if earlier is None and row["revisit_of"] is not None and digest:
            earlier = _referred(conn, row["revisit_of"])
        http_headers = _response_headers(row)
        if earlier is not None and digest:
            headers = {**common, "WARC-Refers-To-Target-URI": earlier.uri, "WARC-Refers-To-Date": earlier.date}
            if earlier.record_id:
                headers["WARC-Refers-To"] = earlier.record_id
            response = writer.create_revisit_record(uri, sha256_label(digest), earlier.uri, earlier.date,
                                                    http_headers=http_headers, warc_headers_dict=headers)
        else:
            body = decode_payload(row["compression"], row["data"]) if row["data"] is not None else b""
            http_headers.replace_header("Content-Length", str(len(body)))
            response = writer.create_warc_record(uri, "response", payload=BytesIO(body), length=len(body),
                                                 http_headers=http_headers, warc_headers_dict=common)
            if digest:
                first_with_payload[digest] = _Written(response.rec_headers.get_header("WARC-Record-ID"), uri, date)
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        tls = (json.loads(row["details"]) if row["details"] else {}).get("tls") or {}
        fields = _protocol_fields(row["http_version"], tls)
        for record in (request, response):
            for name, value in fields:
                record.rec_headers.add_header(name, value)
        _count(report, writer, request)
        _count(report, writer, response)
        if tls.get("certificate_sha256"):
            _count(report, writer, _certificate_record(writer, tls, uri, common,
                                                       response.rec_headers.get_header("WARC-Record-ID")))


def _protocol_fields(http_version: str | None, tls: dict[str, Any]) -> list[tuple[str, str]]:
    """The exchange's protocols as the IIPC's field proposals write them (repeated `WARC-Protocol`, e.g.
    `http/1.1` then `tls/1.3`; `WARC-Cipher-Suite` only where the suite has its IANA name, as TLS 1.3's
    always do: OpenSSL names older suites its own way). `tls`: the capture's `details.tls`, or empty."""
    fields = []
    if http_version:
        fields.append(("WARC-Protocol", {"HTTP/2": "h2", "HTTP/3": "h3"}.get(http_version, http_version.lower())))
    version = str(tls.get("version") or "")
    if version.startswith("TLSv"):
        fields.append(("WARC-Protocol", f"tls/{version.removeprefix('TLSv')}"))
    if str(tls.get("cipher") or "").startswith("TLS_"):
        fields.append(("WARC-Cipher-Suite", str(tls["cipher"])))
    return fields


def _certificate_record(writer: WARCWriter, tls: dict[str, Any], uri: str, common: dict[str, str],
                        response_id: str) -> Any:
    """For a capture over https (`tls`: its `details.tls`), a metadata record (`application/warc-fields`)
    saying which certificate the server showed: its SHA-256, which finds it in the public Certificate
    Transparency logs, its subject, issuer and validity."""
    fields = "".join(f"{name}: {tls[key]}\r\n" for name, key in (
        ("tls-certificate-sha256", "certificate_sha256"), ("tls-subject", "subject"), ("tls-issuer", "issuer"),
        ("tls-not-before", "not_before"), ("tls-not-after", "not_after")) if tls.get(key)).encode()
    return writer.create_warc_record(uri, "metadata", payload=BytesIO(fields), length=len(fields),
                                     warc_content_type="application/warc-fields",
                                     warc_headers_dict={**common, "WARC-Concurrent-To": response_id})


def _referred(conn: sqlite3.Connection, capture_id: int) -> _Written | None:
    """A 304's original capture when it lies outside this export: no record id to point at, but
    its URI and date still say where the payload is."""
    row = conn.execute("SELECT final_url, requested_url, started_at FROM captures WHERE id = ?",
                       (capture_id,)).fetchone()
    return _Written("", row[0] or row[1], row[2]) if row else None


def _request_record(writer: WARCWriter, row: sqlite3.Row, uri: str, common: dict[str, str]) -> Any:
    parts = urlsplit(uri)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [tuple(pair) for pair in json.loads(row["request_headers"] or "[]")]  # stored already redacted
    http_headers = StatusAndHeaders(f"{row['method']} {target} {row['http_version'] or 'HTTP/1.1'}", headers,
                                    is_http_request=True)
    return writer.create_warc_record(uri, "request", http_headers=http_headers, warc_headers_dict=dict(common))


def _response_headers(row: sqlite3.Row) -> StatusAndHeaders:
    received = [tuple(pair) for pair in json.loads(row["response_headers"] or "[]")]
    headers: list[tuple[str, str]] = []
    for name, value in received:
        if name.lower() in _REWRITTEN:
            headers.append((ORIGINAL_PREFIX + name, value))
        else:
            headers.append((name, value))
    try:
        phrase = http.HTTPStatus(row["status"]).phrase
    except ValueError:
        phrase = ""
    return StatusAndHeaders(f"{row['status']} {phrase}".strip(), headers,
                            protocol=row["http_version"] or "HTTP/1.1")
