"""`archiver sources check --online` over loopback: each source's whole plan runs once (first request
and follow-ups) within a request budget; a source whose follow-up pages fail is reported; nothing is
written into the archive."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from archiver.cli import main
from tests.official_fixtures import Site, fetch, rss, statement_page, write_config

DATE = "Tue, 02 Jun 2026 14:30:00 GMT"


def _feed(site: Site, path: str, pages: list[str]) -> None:
    site.put(path, rss([(f"g{n}", site.url(page), f"Statement {n}", DATE, "Summary") for n, page in enumerate(pages)]),
             "application/rss+xml")


def test_online_check_runs_follow_ups_and_reports_those_that_fail(httpserver, tmp_path: Path) -> None:
    site = Site(httpserver)
    _feed(site, "/good.xml", ["/good/1", "/good/2"])
    for page in ("/good/1", "/good/2"):
        site.put(page, statement_page(f"Statement at {page}"))
    _feed(site, "/broken.xml", ["/broken/1", "/broken/2", "/broken/3"])
    site.put("/broken/1", statement_page("The one page that still answers"))
    site.put("/broken/2", b"<html><body>Server error</body></html>", status=500)  # /broken/3: 404
    config = write_config(tmp_path / "sources.toml", [
        {"id": "good", "kind": "feed", "locator": site.url("/good.xml"), "options": {"follow_links": True}},
        {"id": "broken", "kind": "feed", "locator": site.url("/broken.xml"), "options": {"follow_links": True}},
        {"id": "gone", "kind": "feed", "locator": site.url("/gone.xml")},
        {"id": "off", "kind": "feed", "locator": site.url("/off.xml"), "enabled": False}])
    db = tmp_path / "archive.db"
    result = CliRunner().invoke(main, ["sources", "check", "--online", "--config", str(config), "--db", str(db)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "  good: ok (3 request(s), 2 post(s), 0 not modified)" in lines
    broken = next(line for line in lines if line.startswith("  broken: "))
    assert broken.startswith("  broken: FAILED (4 request(s), 1 post(s)): ")
    assert "/broken/2" in broken and "500" in broken
    assert any(line.startswith("      also: ") and "/broken/3" in line and "404" in line for line in lines)
    assert any(line.startswith("  gone: FAILED (1 request(s), 0 post(s)): ") and "HTTP 404" in line for line in lines)
    assert "  off: skipped (disabled)" in lines
    assert "/off.xml" not in site.hits
    assert {"/good/1", "/good/2", "/broken/1", "/broken/2", "/broken/3"} <= set(site.hits)  # follow-ups were fetched
    assert lines[-1] == "archiver: 2 source(s) did not answer as expected"
    assert not db.exists()  # a probe never writes the archive


def test_online_check_keeps_to_its_request_budget_and_leaves_the_archive_as_it_was(httpserver, tmp_path: Path) -> None:
    site = Site(httpserver)
    pages = [f"/s/{n}" for n in range(12)]
    _feed(site, "/many.xml", pages)
    for page in pages:
        site.put(page, statement_page(f"Statement {page}"))
    config = write_config(tmp_path / "sources.toml", [
        {"id": "many", "kind": "feed", "locator": site.url("/many.xml"), "options": {"follow_links": True}}])
    db = tmp_path / "archive.db"
    CliRunner().invoke(main, ["init", "--db", str(db)])
    fetch(config, db, "many")  # an archive that already holds the source
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    site.hits.clear()
    _feed(site, "/many.xml", [*pages, *(f"/new/{n}" for n in range(8))])
    for n in range(8):
        site.put(f"/new/{n}", statement_page(f"New statement {n}"))
    result = CliRunner().invoke(main, ["sources", "check", "--online", "--max-requests", "4", "--config", str(config),
                                       "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "  many: ok (4 request(s), 3 post(s), stopped at the budget of 4, 0 not modified)" in result.output
    # only new pages are followed (the archive's knowledge is used), and no more than the budget
    assert len([hit for hit in site.hits if hit != "/robots.txt"]) == 4
    assert not any(hit.startswith("/s/") for hit in site.hits)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
