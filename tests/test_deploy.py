"""deploy/archiver.service as systemd reads it: `systemd-analyze verify` (where installed) on the unit
with its commands pointed at this installation, and the settings the service's notify protocol needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "archiver.service"
ANALYZE = shutil.which("systemd-analyze")


def verify_unit(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """The unit verified as installed here: the documented /opt/archiver venv replaced by this one."""
    installed = tmp_path / "archiver.service"
    installed.write_text(text.replace("/opt/archiver/bin/archiver", str(Path(sys.executable).parent / "archiver")))
    return subprocess.run([str(ANALYZE), "verify", str(installed)], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    done = verify_unit(tmp_path, UNIT.read_text())
    assert done.returncode == 0, done.stderr
    assert "archiver.service" not in done.stderr, done.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_verify_would_catch_a_mistyped_setting(tmp_path: Path) -> None:
    done = verify_unit(tmp_path, UNIT.read_text().replace("WatchdogSec=60", "WatchdogSec=sixty"))
    assert "Failed to parse sec value" in done.stderr


def test_unit_waits_for_readiness_and_is_watched() -> None:
    settings = dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line
                    and not line.startswith("#"))
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert int(settings["WatchdogSec"]) >= 30  # the heartbeat pings every 10 s at most
    assert settings["StateDirectory"] == "archiver"
    assert "--db /var/lib/archiver/archive.db" in settings["ExecStart"]
