"""Which archive a command writes into: named on stderr by every writing command, and never created
by any command but `init` (a command run from the wrong folder must not start an empty archive)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

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
