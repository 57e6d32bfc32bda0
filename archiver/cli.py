"""The `archiver` command: a thin face over the library. Every failure the user can act on is one
line on stderr and a non-zero exit."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from archiver import __version__
from archiver.archive import Archive
from archiver.database import DEFAULT_DB, ArchiveError, classify, latest_version, open_to_check
from archiver.status import STALE_INTERVALS
from archiver.verify import record as record_verification
from archiver.verify import verify as verify_archive

DEFAULT_CONFIG = Path("config/sources.toml")


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db_path", type=click.Path(path_type=Path), default=DEFAULT_DB,
                        envvar="ARCHIVER_DB", show_envvar=True, show_default=True, help="Archive file.")(command)


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
                        envvar="ARCHIVER_CONFIG", show_envvar=True, show_default=True,
                        help="Sources file.")(command)


ENVIRONMENT = """Environment:

\b
  ARCHIVER_DB      archive file, when --db is not given
  ARCHIVER_CONFIG  sources file, when --config is not given
  X_BEARER_TOKEN   the X API token (a source's `token_env` option names another
                   variable); a variable wins over the same name in the
                   `secrets_file` of config/sources.toml
"""


def open_for_writing(db_path: Path) -> Archive:
    """The existing archive a command writes into, named on stderr first. Only `init` creates one: a
    command run in the wrong folder must not start a second, empty archive there."""
    click.echo(f"archive: {db_path.resolve()}", err=True)
    return Archive(db_path)


class ArchiverGroup(click.Group):
    """Turns ArchiveError (and the config errors derived from it: one line per mistake) and a failing
    archive file into one line and the exit code the error names (2 usage, 3 locked, 4 corrupt, 5 read-only,
    6 disk full)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchiveError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"archiver: error: {line}", err=True)
            sys.exit(exc.exit_code)
        except (sqlite3.DatabaseError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in (errno.ENOSPC, errno.EROFS):
                raise  # not the archive's condition: a bug shows its traceback
            error = classify(exc, "the archive", f"archiver {ctx.invoked_subcommand}")
            click.echo(f"archiver: error: {error}", err=True)
            sys.exit(error.exit_code if error.exit_code != 2 else 1)


@click.group(cls=ArchiverGroup, epilog=ENVIRONMENT)
@click.version_option(__version__, prog_name="archiver")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Evidence-grade archive of public statements and posts."""
    from archiver.logs import configure

    configure(max(logging.WARNING - 10 * verbose, logging.DEBUG))


def key_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--key", "key_path", type=click.Path(path_type=Path), envvar="ARCHIVER_KEY",
                        help="Checkpoint signing key file [default: checkpoint-key beside the archive]; "
                             "keep it out of the archive and out of git.")(command)


@main.command()
@db_option
@key_option
@click.option("--origin", help="Name of this archive's log in its checkpoints (a new key only), "
                               "e.g. newsroom.example/archive.")
def init(db_path: Path, key_path: Path | None, origin: str | None) -> None:
    """Create the archive (or upgrade an existing one to the current schema), and its checkpoint
    signing key if there is none."""
    from archiver.checkpoint import create_key, default_key_path, load_key

    existed = db_path.exists()
    with Archive(db_path, create=True):
        pass
    verb = "upgraded" if existed else "created"
    click.echo(f"{verb} {db_path} (schema version {latest_version()})")
    key_path = key_path or default_key_path(db_path)
    if key_path.exists():
        key, verb = load_key(key_path), "uses"
    else:
        key, verb = create_key(key_path, origin), "made"
    click.echo(f"{verb} signing key {key_path}; public key {key.public.vkey}")


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--wide", is_flag=True, help="Every column, reasons on one line (wider than 100 columns).")
@click.option("--check", is_flag=True,
              help="Exit 1, printing each problem, when the service died without being stopped, the last "
                   "fixity check failed, or an enabled source has not succeeded within --intervals of its "
                   "intervals; exit 0 (silent) when healthy. For cron and monitoring.")
@click.option("--intervals", type=click.IntRange(min=1), default=STALE_INTERVALS, show_default=True,
              help="How many of its intervals a source may go without a successful run (with --check).")
def status(db_path: Path, as_json: bool, wide: bool, check: bool, intervals: int) -> None:
    """What the archive holds, whether the service is running, and each source's last runs."""
    from archiver.status import archive_status, render

    found = archive_status(db_path)
    if check:
        problems = found.problems(intervals)
        for problem in problems:
            click.echo(problem)
        if problems:
            click.echo(f"archiver: status check: {len(problems)} problem(s) in {db_path}", err=True)
            sys.exit(1)
        return
    if as_json:
        click.echo(json.dumps({**found.as_dict(), "problems": found.problems(intervals)}, indent=2))
        return
    for line in render(found, wide=wide):
        click.echo(line)


@main.command()
@db_option
@click.option("--record/--no-record", default=True, show_default=True,
              help="Keep the check as a verify run, in a live archive only (a copy, a backup of an older "
                   "schema or a read-only file is never written).")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(path_type=Path),
              help="A checkpoint file to prove the archive extends (repeatable; old ones too).")
@click.option("--key", "public_key", help="Verifier key the checkpoints must be signed by (or a file holding "
                                          "it) [default: the keys the archive publishes].")
@click.option("--tsa-ca", multiple=True, type=click.Path(path_type=Path),
              help="CA certificates (PEM) the checkpoints' RFC 3161 timestamps must chain to (repeatable).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes checking ranges of rows [default: one per CPU; none for a small archive].")
def verify(db_path: Path, record: bool, checkpoints: tuple[Path, ...], public_key: str | None,
           tsa_ca: tuple[Path, ...], jobs: int | None) -> None:
    """Recompute every digest and the hash chain and rebuild every current view from the chained rows;
    exit 1 naming each broken row (3 locked, 4 corrupt, 5 read-only when asked to record). With
    --checkpoint, also prove by consistency proofs that the archive extends each checkpoint."""
    report = verify_archive(db_path, progress=True, jobs=jobs)
    if checkpoints:
        report.problems += _checked_checkpoints(db_path, list(checkpoints), public_key, list(tsa_ca))
    click.echo(report.summary())
    if record and report.journal == "wal" and not report.copy and report.schema == latest_version():
        try:
            with open_for_writing(db_path) as archive:
                record_verification(archive, report)
        except sqlite3.Error as exc:
            raise classify(exc, db_path, "recording the check in it") from exc
    if not report.ok:
        for problem in report.problems:
            click.echo(f"BROKEN: {problem}", err=True)
        click.echo(f"archiver: verify failed: {report.problems[0]}", err=True)
        sys.exit(1)
    click.echo("ok")


def _checked_checkpoints(db_path: Path, files: list[Path], public_key: str | None, tsa_ca: list[Path]) -> list[str]:
    """Check the checkpoints; print the ones that hold, return one problem line per one that does not."""
    from archiver.checkpoint import check_checkpoints
    from archiver.signed_note import NoteError, PublicKey
    from archiver.timestamp import TimestampError, load_roots

    keys = None
    if public_key is not None:
        text = Path(public_key).read_text(encoding="utf-8") if Path(public_key).is_file() else public_key
        try:
            keys = [PublicKey.parse(text)]
        except NoteError as exc:
            raise click.UsageError(f"--key: {exc}") from exc
    try:
        roots = load_roots(tsa_ca) if tsa_ca else None
    except TimestampError as exc:
        raise click.UsageError(f"--tsa-ca: {exc}") from exc
    result = check_checkpoints(db_path, files, keys=keys, tsa_roots=roots)
    for line in result.checked:
        click.echo(line)
    return result.problems


@main.command()
@db_option
@config_option
@key_option
@click.option("--out", type=click.Path(path_type=Path),
              help="Checkpoint file to write [default: checkpoints/checkpoint-<tree size>.txt beside the archive].")
@click.option("--tsa", "tsa_urls", multiple=True,
              help="RFC 3161 timestamp authority URL (repeatable) [default: [checkpoint] tsa of the config].")
def checkpoint(db_path: Path, config_path: Path, key_path: Path | None, out: Path | None,
               tsa_urls: tuple[str, ...]) -> None:
    """Sign a checkpoint of the archive's transparency log (C2SP tlog-checkpoint), record it and write it
    to a file to publish or deposit; with TSAs, timestamp it. Exit 1 if a TSA gave no token."""
    from archiver import jobs
    from archiver.checkpoint import default_folder, default_key_path, load_key, take_checkpoint
    from archiver.config import CheckpointSettings, load_config

    settings = load_config(config_path).checkpoint if config_path.exists() else CheckpointSettings()
    key = load_key(key_path or (Path(settings.key) if settings.key else default_key_path(db_path)))
    folder = Path(settings.folder) if settings.folder else default_folder(db_path)
    if not db_path.exists():
        raise ArchiveError(f"no archive at {db_path}: create one with `archiver init --db {db_path}`")
    with Archive(db_path) as archive:
        try:
            report = take_checkpoint(jobs.direct(archive), key, folder, list(tsa_urls or settings.tsa), out=out)
        except ArchiveError as exc:  # recorded as a failed checkpoint run
            click.echo(f"archiver: checkpoint failed: {exc}", err=True)
            sys.exit(1)
    click.echo(report.summary())
    for path in report.timestamps:
        click.echo(f"timestamp written to {path}")
    for failure in report.failures:
        click.echo(f"archiver: timestamp failed: {failure}", err=True)
    if report.failures:
        sys.exit(1)


@main.command()
@db_option
@click.option("--version-id", type=int, help="Prove this version is in the log.")
@click.option("--seq", type=int, help="Prove this chain entry is in the log.")
@click.option("--from-checkpoint", type=click.Path(path_type=Path, dir_okay=False),
              help="Prove that the latest checkpoint extends this earlier checkpoint file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the JSON here instead of stdout.")
def proof(db_path: Path, version_id: int | None, seq: int | None, from_checkpoint: Path | None,
          output: Path | None) -> None:
    """A proof checkable without the archive (tools/verify_evidence.py): inclusion of a version or
    chain entry in the latest checkpoint, or consistency of an earlier checkpoint with it."""
    from archiver.checkpoint import Checkpoint
    from archiver.proofs import consistency_bundle, entry_bundle, inclusion_bundle
    from archiver.signed_note import NoteError

    if sum(x is not None for x in (version_id, seq, from_checkpoint)) != 1:
        raise click.UsageError("give one of --version-id, --seq, --from-checkpoint")
    conn = open_to_check(db_path)
    try:
        conn.execute("BEGIN")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'checkpoints'").fetchone():
            raise ArchiveError(f"{db_path} has no checkpoints (an older schema): run `archiver init --db {db_path}`")
        if from_checkpoint is not None:
            note = from_checkpoint.read_text(encoding="utf-8")
            try:
                old = Checkpoint.parse(note[:note.rfind("\n\n") + 1])
            except NoteError as exc:
                raise ArchiveError(f"{from_checkpoint}: {exc}") from exc
            bundle = consistency_bundle(conn, old.size, note)
        else:
            bundle = inclusion_bundle(conn, version_id) if version_id is not None else entry_bundle(conn, seq or 0)
    finally:
        conn.close()
    if bundle is None:
        raise ArchiveError("no checkpoint covers it yet: run `archiver checkpoint`")
    _write_output(output, lambda out: out.write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"))


@main.command()
@db_option
@config_option
@click.option("--allow-private", is_flag=True,
              help="Let ad-hoc URL captures reach loopback and private addresses.")
@click.argument("targets", nargs=-1, required=True)
def fetch(db_path: Path, config_path: Path, allow_private: bool, targets: tuple[str, ...]) -> None:
    """Fetch now: a configured source id runs that source once; a URL is captured as it is (one
    capture, not parsed). Exit 1 if any run or capture failed."""
    from archiver.config import Settings, load_config
    from archiver.jobs import Runner

    urls = [t for t in targets if "://" in t]
    source_ids = [t for t in targets if "://" not in t]
    config = load_config(config_path) if source_ids or config_path.exists() else None
    sources = [config.source(source_id) for source_id in source_ids] if config is not None else []
    open_for_writing(db_path).close()  # an existing archive only, named first
    failed = False
    with Runner(db_path, config.settings if config else Settings()) as runner:
        if sources and config is not None:
            runner.sync(config.sources)
        for source in sources:
            report = runner.run(source)
            failed |= report.outcome in ("failed", "partial")
            click.echo(f"{source.id}: run {report.run_id} {report.outcome} (requests {report.requests},"
                       f" new {report.new}, edited {report.edited}, deleted {report.deleted},"
                       f" not modified {report.not_modified})" + (f": {report.error}" if report.error else "")
                       + (f"; {report.conflicts} identity conflict(s), see `archiver status`"
                          if report.conflicts else ""))
        for url in urls:
            capture_id, exchange, digest = runner.capture(url, allow_private=allow_private)
            failed |= exchange.error is not None
            click.echo(f"capture {capture_id}\t{exchange.status or 'failed'}\t{digest or '-'}\t{url}"
                       + (f"\t{exchange.error}" if exchange.error else ""))
    if failed:
        sys.exit(1)


@main.group("export", invoke_without_command=True)
@db_option
@click.option("--sql", help="A SELECT query whose results to export (run on a read-only connection).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True,
              help="Output format for --sql.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file instead of stdout.")
@click.option("--keep-formulas", is_flag=True,
              help="In CSV, write cells starting with = + - @ (or a tab or CR) as they are; by default they get "
                   "a leading apostrophe so that no spreadsheet runs them as formulas.")
@click.pass_context
def export(ctx: click.Context, db_path: Path, sql: str | None, fmt: str, output: Path | None,
           keep_formulas: bool) -> None:
    """Export from the archive (SQL results, a full dump, WARC).

    With --sql, stream the query's results as CSV, JSON or JSON lines."""
    from archiver.exports import export_query

    if ctx.invoked_subcommand is not None:
        if sql is not None:
            raise click.UsageError("--sql exports a query on its own; do not combine it with a subcommand")
        return
    if sql is None:
        click.echo(ctx.get_help())
        return
    count = _write_output(output, lambda out: export_query(db_path, sql, fmt, out, keep_formulas=keep_formulas))
    if output is not None:
        click.echo(f"exported {count} rows to {output}", err=True)


def _write_output(output: Path | None, write: Callable[[Any], int]) -> int:
    """Run `write` on stdout or on OUTPUT; a file appears only complete (written aside, then renamed)."""
    if output is None:
        return write(sys.stdout)
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = write(out)
        partial.replace(output)
    except OSError as exc:
        raise ArchiveError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return count


@export.command("dump")
@db_option
@click.argument("output", type=click.Path(path_type=Path))
def export_dump(db_path: Path, output: Path) -> None:
    """Write a full SQL dump (`sqlite3 NEW.db < OUTPUT` rebuilds the archive; `-` for stdout)."""
    from archiver.exports import dump

    lines = _write_output(None if str(output) == "-" else output, lambda out: dump(db_path, out, progress=True))
    click.echo(f"dumped {db_path} ({lines} statements)", err=True)


@export.command("warc")
@db_option
@click.option("--source", "source_id", help="Only this source's captures.")
@click.option("--since", help="Only captures started at or after this UTC time (ISO 8601).")
@click.argument("output", type=click.Path(path_type=Path))
def export_warc(db_path: Path, source_id: str | None, since: str | None, output: Path) -> None:
    """Write stored HTTP captures as WARC 1.1 (OUTPUT.warc.gz is gzipped per record)."""
    from archiver.warc import export_warc as write_warc

    click.echo(write_warc(db_path, output, source_id=source_id, since=since, progress=True).summary())


@main.command()
@db_option
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--without-payloads", is_flag=True,
              help="Leave out the response bodies (captures and their digests stay).")
@click.option("--published-only", is_flag=True,
              help="Leave out posts and sources marked publish = 0, with the captures and payloads they rest on.")
def snapshot(db_path: Path, output: Path, without_payloads: bool, published_only: bool) -> None:
    """Write a consistent single-file copy of the archive, fit for `datasette --immutable`. What a copy
    leaves out is named in its `withheld` table; `archiver verify` on the copy passes and reports it."""
    from archiver.exports import snapshot as take_snapshot

    withheld = take_snapshot(db_path, output, without_payloads=without_payloads, published_only=published_only,
                             progress=True)
    left_out = ", ".join(f"{n} {table}" for table, n in sorted(withheld.items()))
    click.echo(f"snapshot of {db_path} written to {output}" + (f" (withheld: {left_out})" if left_out else ""))


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
@click.option("--config-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Datasette metadata and settings folder [default: the one shipped with archiver].")
@click.option("--public", is_flag=True,
              help="Serve a published copy (made by `archiver snapshot`) as the public should read it: opened "
                   "immutable with its counts inspected once, in --processes Datasette workers on one port.")
@click.option("--processes", type=click.IntRange(1, 64), default=2, show_default=True,
              help="With --public: Datasette processes sharing the port.")
def serve(db_path: Path, host: str, port: int, config_dir: Path | None, public: bool, processes: int) -> None:
    """Serve the archive read-only with Datasette (the live file: safe while the service writes), or with
    --public a published copy of it."""
    if public:
        from archiver.publish.public import serve_public

        serve_public(db_path, host, port, processes=processes, config_dir=config_dir)
        return
    from archiver.publish.server import serve as serve_archive

    serve_archive(db_path, host, port, config_dir=config_dir)


@main.group("import")
def import_() -> None:
    """Import posts from files (X account archives, twarc2 JSONL)."""


def _run_import(db_path: Path, path: Path, importer: Callable[..., Any]) -> None:
    with open_for_writing(db_path) as archive:
        report = importer(archive, path)
    click.echo(report.summary())
    for problem in report.problems[:20]:
        click.echo(f"skipped: {problem}", err=True)
    if report.problems:
        sys.exit(1)


@import_.command("x-archive")
@db_option
@click.argument("path", type=click.Path(path_type=Path))
def import_x_archive(db_path: Path, path: Path) -> None:
    """Import an X account archive: its zip, unpacked folder, or a tweets.js file."""
    from archiver.importers.x_archive import import_x_archive as importer

    _run_import(db_path, path, importer)


@import_.command("twarc")
@db_option
@click.argument("path", type=click.Path(path_type=Path))
def import_twarc(db_path: Path, path: Path) -> None:
    """Import twarc2 JSONL output (response pages, stream lines or flattened tweets), keeping its __twarc
    provenance."""
    from archiver.importers.twarc import import_twarc as importer

    _run_import(db_path, path, importer)


@main.command()
@db_option
@config_option
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Also serve the archive read-only with Datasette.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Datasette address.")
@click.option("--port", default=8001, show_default=True, help="Datasette port.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object per line (time, level, logger, message, source, run) for log shippers.")
@click.option("--contact", envvar="ARCHIVER_CONTACT", show_envvar=True, default=None,
              help="Your URL or e-mail address for the User-Agent, instead of `contact` in the sources file.")
def run(db_path: Path, config_path: Path, serve: bool, host: str, port: int, log_format: str,
        contact: str | None) -> None:
    """Run the scheduled archiver until SIGTERM or Ctrl-C (SIGHUP reloads the configuration).
    Refuses to start while the contact (--contact, else `contact` in the sources file) is the shipped
    placeholder."""
    import signal
    import threading

    from archiver.config import CONTACT_ENV, ConfigError, load_config, placeholder_contact
    from archiver.logs import configure
    from archiver.service import Service

    if contact:
        os.environ[CONTACT_ENV] = contact  # every (re)load of the configuration takes it
    if (problem := placeholder_contact(load_config(config_path))) is not None:
        raise ConfigError([problem])
    quiet = not logging.getLogger().isEnabledFor(logging.INFO)  # no -v: the service still says what it does
    configure(min(logging.getLogger().getEffectiveLevel(), logging.INFO), log_format)
    if quiet:
        # the scheduler's own INFO lines (one per job added or run) drown the archive's; -v shows them
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    service = Service(config_path, db_path, serve=serve, host=host, port=port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: service.request_reload())
    try:
        service.start()
    except ArchiveError as exc:  # the service logged its FATAL line
        sys.exit(exc.exit_code)
    stop.wait()
    service.stop()


@main.group("sources")
def sources() -> None:
    """Check the configured sources."""


@sources.command("check")
@config_option
@db_option
@click.option("--online", is_flag=True,
              help="Run each enabled source's whole plan once (first requests and follow-ups) and parse it.")
@click.option("--max-requests", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="With --online: at most this many requests per source (a listing and a few of its pages).")
def sources_check(config_path: Path, db_path: Path, online: bool, max_requests: int) -> None:
    """Validate the configuration (exit 2, every mistake as FILE:LINE) and list the sources; with
    --online, run each enabled source once without writing the archive (exit 1 if any request or
    follow-up page fails)."""
    from archiver.config import load_config, placeholder_contact

    config = load_config(config_path)
    if (problem := placeholder_contact(config)) is not None:
        click.echo(f"archiver: warning: {problem}", err=True)
    click.echo(f"{config_path}: {len(config.sources)} source(s), configuration valid")
    for source in config.sources:
        state = "enabled" if source.enabled else "disabled"
        click.echo(f"  {source.id}  {source.kind}  {state}  {source.schedule}  {source.locator}"
                   f"  [verified: {source.verified or 'not stated'}]")
    if not online:
        return
    from archiver.probe import probe_sources

    runs_log = logging.getLogger("archiver.jobs")
    level = runs_log.level
    if not logging.getLogger().isEnabledFor(logging.INFO):
        runs_log.setLevel(logging.ERROR)  # each run's outcome is printed below; -v logs it too
    failures = 0
    try:
        for result in probe_sources(config, db_path, max_requests=max_requests):
            failures += not result.ok
            click.echo(f"  {result.source.id}: {result.summary}")
            for failure in result.failures[1:]:
                click.echo(f"      also: {failure}")
    finally:
        runs_log.setLevel(level)
    if failures:
        click.echo(f"archiver: {failures} source(s) did not answer as expected", err=True)
        sys.exit(1)
