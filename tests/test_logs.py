"""What the service log shows: `archiver run --log-format json` as one JSON object per line naming the
source and run, and a parser's crash as one line (its traceback only at DEBUG)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver import jobs
from archiver.archive import Archive
from archiver.cli import main
from archiver.config import Settings
from archiver.fetch import Fetcher
from archiver.models import Source
from archiver.platforms import feed
from archiver.view import ArchiveView
from tests.loopback import LoopbackServer, Reply

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ministry</title><link>http://x/</link>'
        b"<description>d</description><item><guid>a</guid><title>A</title><link>http://x/a</link>"
        b"<description>The ministry calls for calm.</description></item></channel></rss>")


def test_run_logs_json_lines_with_source_and_run(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    assert CliRunner().invoke(main, ["init", "--db", str(db)]).exit_code == 0
    with LoopbackServer() as server:
        server.routes["/broken.xml"] = Reply(503, b"down for maintenance")
        config = tmp_path / "sources.toml"
        config.write_text('[archiver]\ncontact = "mailto:operations@archive.test"\nallow_private = true\n'
                          'retries = 0\nverify_schedule = "off"\n\n[[source]]\nid = "broken"\nkind = "feed"\n'
                          f'locator = "{server.base}/broken.xml"\nschedule = "every 1h"\n')
        log = tmp_path / "service.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "archiver", "run", "--no-serve", "--log-format", "json",
                                        "--db", str(db), "--config", str(config)], stderr=out)
            try:
                give_up = time.monotonic() + 60
                while '"source": "broken"' not in log.read_text() and time.monotonic() < give_up:
                    time.sleep(0.2)
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=60) == 0
            finally:
                if process.poll() is None:
                    process.kill()
    entries = [json.loads(line) for line in log.read_text().splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    failed = next(entry for entry in entries if entry.get("source") == "broken")
    assert failed["level"] == "WARNING" and failed["logger"] == "archiver.jobs" and isinstance(failed["run"], int)
    assert f"failed: HTTP 503: GET {server.base}/broken.xml" in failed["message"]
    assert entries[-1]["message"] == "archiver service stopped"


def test_a_parser_crash_is_one_log_line_and_one_line_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object) -> None:  # a parser bug, as hostile input can reveal one
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean.\nInstall it.")

    monkeypatch.setattr(feed, "parse", crash)
    db = tmp_path / "archive.db"
    with LoopbackServer() as server:
        server.routes["/feed.xml"] = Reply(200, FEED, {"Content-Type": "application/rss+xml"})
        source = Source(id="ministry", kind="feed", locator=f"{server.base}/feed.xml", schedule="every 1h",
                        options={"allow_private": True})
        with Archive(db, create=True) as archive, Fetcher(Settings(retries=0)) as fetcher:
            archive.sync_sources([source.as_row()])
            view = ArchiveView(db)
            caplog.set_level(logging.DEBUG, logger="archiver")
            report = jobs.run_source(source, fetcher, jobs.submit_now(archive), view)
            view.close()
    assert report.outcome == "failed"
    assert report.error == ("feed parser failed: ImportError: lxml.html.clean module is now a separate project "
                            f"lxml_html_clean. Install it.: GET {server.base}/feed.xml")
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.levelno == logging.WARNING and report.error in r.getMessage() for r in shown)
    assert all("\n" not in r.getMessage() and not r.exc_info for r in shown)  # no traceback above DEBUG
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert debug and debug[0].exc_info[0] is ImportError  # -vv still shows where it broke
