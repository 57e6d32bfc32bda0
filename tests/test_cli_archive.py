"""Which archive a command writes into: named on stderr by every writing command, and never created
by any command but `init` (a command run from the wrong folder must not start an empty archive)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from tqdm import tqdm

from archiver.cli import main
from tests.conftest import FIXTURES


@pytest.mark.parametrize("command", [
    ["fetch", "--allow-private", "http://127.0.0.1:9/statement"],
    ["import", "twarc", str(FIXTURES / "twarc2" / "edited.jsonl")],
    ["verify"],
], ids=["fetch", "import", "verify"])
def test_no_command_but_init_creates_an_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the default --db is db/archive.db of the working directory
    monkeypatch.delenv("ARCHIVER_DB", raising=False)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "archiver: error: no archive at db/archive.db: create one with `archiver init --db db/archive.db`")
    assert not (tmp_path / "db").exists()
    assert CliRunner().invoke(main, ["init"]).exit_code == 0 and (tmp_path / "db" / "archive.db").is_file()


def test_writing_commands_name_their_archive(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    assert CliRunner().invoke(main, ["init", "--db", str(db)]).exit_code == 0
    for command in (["import", "twarc", "--db", str(db), str(FIXTURES / "twarc2" / "edited.jsonl")],
                    ["verify", "--db", str(db)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[0] == f"archive: {db.resolve()}"


def _stderr_on_a_terminal(argv: list[str]) -> str:
    """Run `archiver ARGV` with stderr on a real pseudo-terminal; what appeared on it."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    done = subprocess.run([sys.executable, "-m", "archiver", *argv], stderr=slave, stdout=subprocess.DEVNULL,
                          timeout=120, check=False)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert done.returncode == 0, shown
    return shown.decode("utf-8", "replace")


def test_long_work_shows_progress_with_a_total_on_a_terminal_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "archive.db"
    assert CliRunner().invoke(main, ["init", "--db", str(db)]).exit_code == 0
    twarc = FIXTURES / "twarc2" / "edited.jsonl"
    lines = sum(1 for line in twarc.read_bytes().splitlines() if line.strip())
    shown = _stderr_on_a_terminal(["import", "twarc", "--db", str(db), str(twarc)])
    assert "importing edited.jsonl: 100%" in shown and f"{lines}/{lines}" in shown
    tweets = FIXTURES / "x_archive" / "tweets.js"
    size = tqdm.format_sizeof(tweets.stat().st_size)  # every byte of the file read, shown as tqdm scales it
    shown = _stderr_on_a_terminal(["import", "x-archive", "--db", str(db), str(tweets)])
    assert "importing tweets.js: 100%" in shown and f"{size}/{size}" in shown
    chain = sqlite3.connect(db).execute("SELECT (SELECT count(*) FROM payloads) + (SELECT count(*) FROM versions)"
                                        " + (SELECT count(*) FROM chain)").fetchone()[0]
    assert "verifying archive.db: 100%" in (shown := _stderr_on_a_terminal(["verify", "--db", str(db)]))
    assert f"{chain}/{chain}" in shown
    captures = sqlite3.connect(db).execute("SELECT count(*) FROM captures").fetchone()[0]
    shown = _stderr_on_a_terminal(["export", "warc", "--db", str(db), str(tmp_path / "out.warc.gz")])
    assert "exporting out.warc.gz: 100%" in shown and f"{captures}/{captures}" in shown
    assert "dumping archive.db: 100%" in _stderr_on_a_terminal(["export", "dump", "--db", str(db),
                                                                 str(tmp_path / "out.sql")])
    assert "copying archive.db: " in _stderr_on_a_terminal(["snapshot", "--db", str(db), str(tmp_path / "copy.db")])
    quiet = subprocess.run([sys.executable, "-m", "archiver", "verify", "--db", str(db)], capture_output=True,
                           text=True, timeout=120, check=True)
    assert quiet.stderr == f"archive: {db.resolve()}\n"  # no bar in a pipe, a log or cron mail
