"""Trusted time: a checkpoint timestamped by a real RFC 3161 authority (OpenSSL `ts -reply` on
loopback, with a CA made in the test) verifies; a tampered token, a token moved to another checkpoint
or one checked against another CA is rejected; a TSA that is down, broken or hanging is a recorded
partial run and a one-line message, never a crash, and never holds up capture."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from rfc3161_client import decode_timestamp_response

from archiver.archive import Archive
from archiver.cli import main
from archiver.models import Exchange, utcnow
from tests.official_fixtures import rows
from tests.tsa import LoopbackTSA, closed_port_url


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def record_capture(archive: Archive, n: int) -> None:
    archive.record(Exchange(requested_url=f"https://ministry.example/{n}", method="GET", started_at=utcnow(),
                            ended_at=utcnow(), status=200, body=f"statement {n}".encode()))


@pytest.fixture
def tsa(tmp_path: Path):
    with LoopbackTSA(tmp_path / "tsa") as authority:
        yield authority


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "archive.db"
    assert cli("init", "--db", str(path), "--origin", "newsroom.example/archive")[0] == 0
    with Archive(path) as archive:
        for n in range(3):
            record_capture(archive, n)
    return path


def test_a_checkpoint_timestamped_by_a_loopback_tsa_verifies(db: Path, tsa: LoopbackTSA, tmp_path: Path) -> None:
    out = tmp_path / "cp.txt"
    code, stdout, stderr = cli("checkpoint", "--db", str(db), "--out", str(out), "--tsa", tsa.url)
    assert code == 0, stderr
    token = tmp_path / "cp.txt.1.tsr"
    assert f"timestamp written to {token}" in stdout and tsa.requests == 1
    response = decode_timestamp_response(token.read_bytes())
    assert response.tst_info.message_imprint.message == hashlib.sha256(out.read_bytes()).digest()
    stored = rows(db, "SELECT t.tsa_url, t.response, t.gen_time, c.note FROM checkpoint_timestamps t "
                      "JOIN checkpoints c ON c.id = t.checkpoint_id")
    assert stored == [(tsa.url, token.read_bytes(), stored[0][2], out.read_text())]
    assert stored[0][2].startswith(str(response.tst_info.gen_time.year))
    assert rows(db, "SELECT count(*) FROM chain WHERE table_name = 'checkpoint_timestamps'") == [(1,)]

    code, stdout, stderr = cli("verify", "--db", str(db), "--checkpoint", str(out), "--tsa-ca", str(tsa.ca))
    assert code == 0, stderr
    assert "1 timestamp(s) verified" in stdout


def test_a_tampered_moved_or_foreign_token_is_rejected(db: Path, tsa: LoopbackTSA, tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    assert cli("checkpoint", "--db", str(db), "--out", str(first), "--tsa", tsa.url)[0] == 0
    assert cli("checkpoint", "--db", str(db), "--out", str(second), "--tsa", tsa.url)[0] == 0
    token = tmp_path / "first.txt.1.tsr"
    good = token.read_bytes()

    tampered = bytearray(good)
    tampered[-10] ^= 0x01  # inside the signature
    token.write_bytes(bytes(tampered))
    code, _, stderr = cli("verify", "--db", str(db), "--checkpoint", str(first), "--tsa-ca", str(tsa.ca))
    assert code == 1
    assert f"BROKEN: checkpoint {first} (tree size" in stderr and "timestamp first.txt.1.tsr: " in stderr

    token.write_bytes(good)
    (tmp_path / "second.txt.1.tsr").write_bytes(good)  # the first checkpoint's token beside the second
    code, _, stderr = cli("verify", "--db", str(db), "--checkpoint", str(first), "--checkpoint", str(second),
                          "--tsa-ca", str(tsa.ca))
    assert code == 1
    broken = [line for line in stderr.splitlines() if line.startswith("BROKEN:")]
    assert len(broken) == 1 and str(second) in broken[0] and "Mismatch between messages" in broken[0]

    with LoopbackTSA(tmp_path / "other", name="Another TSA") as other:
        code, _, stderr = cli("verify", "--db", str(db), "--checkpoint", str(first), "--tsa-ca", str(other.ca))
    assert code == 1 and "timestamp first.txt.1.tsr: " in stderr


def test_tsas_that_are_down_or_broken_are_a_partial_run_not_a_crash(db: Path, tsa: LoopbackTSA,
                                                                    tmp_path: Path) -> None:
    with LoopbackTSA(tmp_path / "broken", name="Broken TSA") as broken, \
            LoopbackTSA(tmp_path / "failing", name="Failing TSA") as failing:
        broken.mode, failing.mode = "garbage", "error"
        down = closed_port_url()
        out = tmp_path / "cp.txt"
        code, _, stderr = cli("checkpoint", "--db", str(db), "--out", str(out),
                                   "--tsa", down, "--tsa", broken.url, "--tsa", failing.url, "--tsa", tsa.url)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in stderr
    assert lines[0].startswith(f"archiver: timestamp failed: TSA {down}: ")
    assert lines[1] == f"archiver: timestamp failed: TSA {broken.url}: not a timestamp response " + lines[1].split(
        "not a timestamp response ", 1)[1]
    assert lines[2] == f"archiver: timestamp failed: TSA {failing.url}: HTTP 500"
    assert out.exists() and (tmp_path / "cp.txt.1.tsr").exists() and not (tmp_path / "cp.txt.2.tsr").exists()
    run = rows(db, "SELECT outcome, error, json_extract(details, '$.timestamps') FROM runs WHERE kind = 'checkpoint'")
    assert run == [("partial", lines[0].removeprefix("archiver: timestamp failed: "), 1)]
    assert rows(db, "SELECT tsa_url FROM checkpoint_timestamps") == [(tsa.url,)]
    size = rows(db, "SELECT tree_size FROM checkpoints")[0][0]
    status = CliRunner().invoke(main, ["status", "--db", str(db), "--wide"]).stdout
    assert "last checkpoint: partial at " in status and f", tree size {size} in {out}: TSA {down}: " in status


def test_the_service_checkpoint_never_holds_up_capture(db: Path, tsa: LoopbackTSA, tmp_path: Path) -> None:
    from archiver.service import Service

    config = tmp_path / "sources.toml"
    config.write_text(f'[archiver]\nallow_private = true\nverify_schedule = "off"\n\n'
                      f'[checkpoint]\nschedule = "every 1d"\ntsa = ["{tsa.url}"]\nfolder = "{tmp_path / "cps"}"\n')
    service = Service(config, db, serve=False)
    service.start()
    try:
        assert service.scheduler.get_job("__checkpoint__") is not None
        tsa.mode = "hang"
        job = threading.Thread(target=service._checkpoint)
        job.start()
        assert tsa.arrived.wait(60)  # the checkpoint is signed and now waits on the TSA
        before = rows(db, "SELECT count(*) FROM captures")[0][0]
        service.writer.submit(lambda archive: record_capture(archive, 99)).result(timeout=60)
        assert rows(db, "SELECT count(*) FROM captures")[0][0] == before + 1
        assert rows(db, "SELECT count(*) FROM checkpoint_timestamps") == [(0,)]
        tsa.release.set()
        job.join(60)
        assert not job.is_alive()
    finally:
        service.stop()
    assert rows(db, "SELECT outcome FROM runs WHERE kind = 'checkpoint'") == [("ok",)]
    assert rows(db, "SELECT count(*) FROM checkpoint_timestamps") == [(1,)]
    files = sorted(p.name for p in (tmp_path / "cps").iterdir())
    assert len(files) == 2 and files[0].endswith(".txt") and files[1].endswith(".txt.1.tsr")


def test_a_service_without_a_signing_key_records_a_failed_checkpoint(tmp_path: Path) -> None:
    from archiver.service import Service

    db = tmp_path / "archive.db"
    Archive(db, create=True).close()  # made without `archiver init`: no signing key beside it
    config = tmp_path / "sources.toml"
    config.write_text('[archiver]\nverify_schedule = "off"\n')
    service = Service(config, db, serve=False)
    service.start()
    try:
        service._checkpoint()
    finally:
        service.stop()
    assert rows(db, "SELECT outcome, error FROM runs WHERE kind = 'checkpoint'") == [
        ("failed", f"no signing key at {tmp_path / 'checkpoint-key'}: make one with "
                   f"`archiver init --key {tmp_path / 'checkpoint-key'}`")]


@pytest.mark.parametrize(("table", "message"), [
    ('tsa = "https://tsa.example"', "[checkpoint]: field `tsa`: must be a list of http(s) URLs"),
    ('tsa = ["ftp://tsa.example"]', "[checkpoint]: field `tsa`: must be a list of http(s) URLs"),
    ('schedule = "now and then"', "[checkpoint]: field `schedule`: "),
    ("key = 1", "[checkpoint]: field `key`: must be a string"),
    ("anchor = true", "[checkpoint]: unknown field `anchor`"),
])
def test_checkpoint_settings_are_validated(tmp_path: Path, table: str, message: str) -> None:
    from archiver.config import ConfigError, load_config

    path = tmp_path / "sources.toml"
    path.write_text(f"[checkpoint]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:2: {message}")  # the line of the mistake, as for every table
    path.write_text('[checkpoint]\nschedule = "cron: 0 3 * * *"\ntsa = ["https://tsa.example/tsr"]\n')
    settings = load_config(path).checkpoint
    assert (settings.schedule, settings.tsa, settings.key) == ("cron: 0 3 * * *", ["https://tsa.example/tsr"], None)


def test_a_proof_carries_the_checkpoints_timestamps_which_openssl_verifies(db: Path, tsa: LoopbackTSA,
                                                                          tmp_path: Path) -> None:
    import base64
    import json
    import subprocess

    assert cli("checkpoint", "--db", str(db), "--out", str(tmp_path / "cp.txt"), "--tsa", tsa.url)[0] == 0
    code, stdout, stderr = cli("proof", "--db", str(db), "--seq", "2")
    assert code == 0, stderr
    bundle = json.loads(stdout)
    assert [t["tsa_url"] for t in bundle["timestamps"]] == [tsa.url]
    # checkable without archiver: the note and the token out of the proof, through OpenSSL
    (tmp_path / "note.txt").write_text(bundle["checkpoint"], encoding="utf-8")
    (tmp_path / "token.tsr").write_bytes(base64.b64decode(bundle["timestamps"][0]["response"]))
    done = subprocess.run(["openssl", "ts", "-verify", "-in", "token.tsr", "-data", "note.txt", "-CAfile",
                           str(tsa.ca)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    (tmp_path / "note.txt").write_text(bundle["checkpoint"].replace("time 20", "time 19"), encoding="utf-8")
    done = subprocess.run(["openssl", "ts", "-verify", "-in", "token.tsr", "-data", "note.txt", "-CAfile",
                           str(tsa.ca)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
