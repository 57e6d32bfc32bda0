"""The scheduled background service behind `archiver run`: one APScheduler job per enabled source,
fetching in a worker pool, writing through the single archive writer thread, optionally serving the
archive with Datasette, reloading its configuration without a restart, and draining on SIGTERM."""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import Future, wait
from concurrent.futures import ThreadPoolExecutor as Pool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from archiver import heartbeat, systemd
from archiver.archive import Archive
from archiver.config import Config, ConfigError, load_config
from archiver.database import ArchiveCorrupt, ArchiveError, classify
from archiver.jobs import PendingRun, Runner
from archiver.models import Source, format_time, parse_time, utcnow
from archiver.schedule import Schedule, parse_schedule
from archiver.verify import record as record_verification
from archiver.verify import record_failure
from archiver.verify import verify as verify_archive

log = logging.getLogger(__name__)

# A source that fails this many runs in a row waits before its next attempt, doubling each time
# (up to the `max_backoff` setting).
BACKOFF_AFTER = 2
# Missed slots recorded after a stop, per source: enough to show the gap, bounded for long outages.
MAX_MISSED_RECORDED = 50
# A Datasette child that dies is restarted after a pause doubling from the first to the last value;
# one that served this long before dying starts again from the first.
RESTART_PAUSE = (1.0, 60.0)
RESTART_RESET_AFTER = 300.0
# Seconds between heartbeats (the file `archiver status` reads, systemd's watchdog ping); a third of
# WatchdogSec when systemd asks for less.
HEARTBEAT_SECONDS = 10.0


try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # loaded here, never in a forked child
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """In the Datasette child: ask Linux to end it when the service dies, even by SIGKILL, so no
    server is left holding the port. Elsewhere the service's own shutdown stops it."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _SchedulingExecutor(ThreadPoolExecutor):
    """Remembers each job's scheduled time, which APScheduler does not hand to the job itself."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.scheduled: dict[str, dt.datetime] = {}

    def _do_submit_job(self, job: Any, run_times: list[dt.datetime]) -> None:
        self.scheduled[job.id] = run_times[-1]
        super()._do_submit_job(job, run_times)


@dataclass
class _Health:
    failures: int = 0
    not_before: dt.datetime | None = None


def trigger_for(source: Source) -> tuple[Any, float]:
    """The APScheduler trigger of a source and its nominal interval in seconds.

    Interval schedules get a fixed phase derived from the source id instead of APScheduler's random
    jitter: jitter is added to each previous fire time and so accumulates (a period of interval +
    jitter/2 on average), while a fixed phase spreads sources without drifting."""
    return schedule_trigger(source.schedule, source.id)


def schedule_trigger(text: str, key: str) -> tuple[Any, float]:
    """The trigger of a schedule (`every …` or `cron: …`), phased by `key` (see trigger_for)."""
    schedule: Schedule = parse_schedule(text)
    interval = schedule.nominal_interval()
    if schedule.interval is not None:
        phase = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10_000 / 10_000 * interval
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=phase)
        return IntervalTrigger(seconds=schedule.interval, start_date=start, timezone=dt.UTC), interval
    return CronTrigger.from_crontab(schedule.cron or "", timezone=dt.UTC), interval


class Service:
    def __init__(self, config_path: Path, db_path: Path, *, serve: bool = True, host: str = "127.0.0.1",
                 port: int = 8001, watch_seconds: float = 2.0, first_run_spread: float | None = None) -> None:
        self.config_path = Path(config_path)
        self.db_path = Path(db_path)
        self.serve, self.host, self.port = serve, host, port
        self.watch_seconds = watch_seconds
        self.first_run_spread = first_run_spread
        self.config: Config = load_config(self.config_path)
        self._config_mtime = self._mtime()
        self._sources: dict[str, Source] = {}
        self._health: dict[str, _Health] = {}
        self._judged: dict[str, Future[None]] = {}  # per source: its last run, collected and judged
        self._draining = threading.Event()
        self._lock = threading.Lock()
        self.datasette: subprocess.Popen[bytes] | None = None
        self._supervisor: threading.Thread | None = None
        self._beating = threading.Event()
        watchdog = systemd.watchdog_seconds()
        self.heartbeat_seconds = min(HEARTBEAT_SECONDS, watchdog / 3) if watchdog else HEARTBEAT_SECONDS

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:  # never write into a damaged file (opening it to write checks its pages first); an archive
            # is made by `archiver init`, never implicitly here
            with Archive(self.db_path) as archive:
                crashed = archive.close_crashed_runs()
        except ArchiveCorrupt as exc:
            log.critical("FATAL: %s; refusing to write into it", exc)
            raise
        if crashed:
            log.warning("closed %d run(s) left open by a killed process as crashed: %s", len(crashed),
                        ", ".join(map(str, crashed[:20])))
        if self.serve:  # forked before any other thread exists
            self._start_datasette()
        self.runner = Runner(self.db_path, self.config.settings)
        self.writer = self.runner.writer  # the service's own records (runs it skips, state) go the same way
        self.executor = _SchedulingExecutor(self.config.settings.workers)
        # waits for each run's commits and judges it, so that a worker takes its next source while
        # the writer commits the last one's records
        self._collector = Pool(1, thread_name_prefix="run-collector")
        self.scheduler = BackgroundScheduler(
            executors={"default": self.executor}, timezone=dt.UTC,
            job_defaults={"coalesce": True, "max_instances": 1})
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._apply(self.config, first_start=True)
        self.scheduler.add_job(self._watch_config, IntervalTrigger(seconds=self.watch_seconds),
                               id="__config_watch__", max_instances=1, coalesce=True)
        if self.config.settings.verify_schedule != "off":
            # fixity: the whole archive re-checked on a schedule, each check a run with its chain head
            trigger, _ = schedule_trigger(self.config.settings.verify_schedule, "__verify__")
            self.scheduler.add_job(self._verify, trigger, id="__verify__", max_instances=1, coalesce=True)
        if self.config.checkpoint.schedule != "off":
            # a signed (and, with TSAs, timestamped) checkpoint of the transparency log
            trigger, _ = schedule_trigger(self.config.checkpoint.schedule, "__checkpoint__")
            self.scheduler.add_job(self._checkpoint, trigger, id="__checkpoint__", max_instances=1, coalesce=True)
        self.scheduler.start()
        if self.serve:
            self._supervisor = threading.Thread(target=self._supervise, name="datasette-supervisor", daemon=True)
            self._supervisor.start()
        log.info("archiver service started: %d sources scheduled, %d workers, archive %s",
                 len(self._sources), self.config.settings.workers, self.db_path)
        self._state = heartbeat.ServiceState(pid=os.getpid(), host=socket.gethostname(), started_at=utcnow(),
                                             heartbeat_at=utcnow(), period=self.heartbeat_seconds)
        self._beat()
        systemd.notify("READY=1", f"STATUS={self._state.status}")
        # its own thread, not a scheduler job: busy workers must not look like a dead service
        self._heart = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        self._heart.start()

    def stop(self) -> None:
        """Drain: queued jobs skip themselves, running ones stop between requests (each request ends
        at its deadline), then the writer commits what it holds and closes."""
        log.info("archiver service stopping: draining")
        systemd.notify("STOPPING=1", "STATUS=draining: running fetches end between requests")
        self._draining.set()
        self._beating.set()
        self._heart.join()  # its last beat is written before the final state below, never after
        self.scheduler.shutdown(wait=True)
        # the public face goes first: its readers would keep the final checkpoint from emptying the WAL
        self._stop_datasette()
        self._collector.shutdown(wait=True)  # every run judged while the writer still takes its records
        self.runner.close()
        self._state.stopped_at = utcnow()
        self._state.status = "stopped"
        self._write_state()
        log.info("archiver service stopped")

    def _stop_datasette(self) -> None:
        while True:  # (the supervisor may be starting a new child just as the drain begins)
            child = self.datasette
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
            if self._supervisor is None:
                return
            self._supervisor.join(timeout=1)
            if not self._supervisor.is_alive():
                return

    def request_reload(self) -> None:
        """Re-read the configuration now (SIGHUP)."""
        self.scheduler.add_job(self._reload, id="__reload__", replace_existing=True)

    def next_runs(self) -> dict[str, str | None]:
        return {job.id: format_time(job.next_run_time) if job.next_run_time else None
                for job in self.scheduler.get_jobs() if not job.id.startswith("__")}

    # -- configuration ------------------------------------------------------------------------

    def _mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    def _watch_config(self) -> None:
        mtime = self._mtime()
        if mtime != self._config_mtime:
            self._config_mtime = mtime
            self._reload()

    def _reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            message = "; ".join(exc.problems)  # one log line, every mistake in it
            log.error("configuration not reloaded, keeping the running one: %s", message)
            self.writer.call(lambda a: a.record_run("reload", "failed", error=message))
            return
        if config.settings != self.config.settings:
            log.warning("changes to [archiver] settings take effect at the next restart")
        self._apply(config, first_start=False)
        log.info("configuration reloaded: %d sources scheduled", len(self._sources))

    def _apply(self, config: Config, *, first_start: bool) -> None:
        """Make the scheduled jobs match `config`: add, reschedule, remove."""
        self.runner.sync(config.sources)
        wanted = {s.id: s for s in config.sources if s.enabled}
        with self._lock:
            previous = self._sources
            self._sources = wanted
            self.config = config
        now = dt.datetime.now(dt.UTC)
        for source_id in previous.keys() - wanted.keys():
            self.scheduler.remove_job(source_id)
        for index, (source_id, source) in enumerate(self._start_order(wanted)):
            old = previous.get(source_id)
            if old is not None and old.schedule == source.schedule:
                continue
            trigger, interval = trigger_for(source)
            if first_start:
                self._record_missed_since_last_run(source, trigger, interval, now)
            # first runs are staggered over a slice of the interval so that a start does not fire
            # every source at once
            spread = self.first_run_spread if self.first_run_spread is not None else min(interval / 4, 60.0)
            first = now + dt.timedelta(seconds=spread * index / max(len(wanted), 1))
            if old is not None:
                self.scheduler.reschedule_job(source_id, trigger=trigger)
            else:
                self.scheduler.add_job(
                    self._run, trigger, id=source_id, args=[source_id], replace_existing=True,
                    misfire_grace_time=max(1, int(interval / 2)), next_run_time=first)
        self._publish_next_runs()

    def _start_order(self, sources: dict[str, Source]) -> list[tuple[str, Source]]:
        """Sources in the order their first runs are staggered: the one whose last run began longest
        ago first (never run: first of all), so a service killed soon after every start still gets
        round to every source instead of running the same few again."""
        last = dict(self.runner.view.conn.execute(
            "SELECT source_id, max(started_at) FROM runs WHERE kind = 'fetch' "
            "AND coalesce(outcome, '') NOT IN ('missed', 'skipped') GROUP BY source_id").fetchall())
        return sorted(sources.items(), key=lambda item: (last.get(item[0]) or "", item[0]))

    def _record_missed_since_last_run(self, source: Source, trigger: Any, interval: float,
                                      now: dt.datetime) -> None:
        """Fire times that fell while the service was not running are recorded as `missed` runs."""
        row = self.runner.view.conn.execute(
            "SELECT max(coalesce(scheduled_at, started_at)) FROM runs WHERE source_id = ? AND kind = 'fetch'",
            (source.id,)).fetchone()
        if row is None or row[0] is None:
            return
        last = parse_time(row[0])
        missed: list[dt.datetime] = []
        fire = trigger.get_next_fire_time(None, last + dt.timedelta(seconds=1))
        # a fire time within the grace period is still run now, not missed
        while fire is not None and fire < now - dt.timedelta(seconds=interval / 2):
            missed.append(fire)
            if len(missed) > MAX_MISSED_RECORDED:
                break
            fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
        for when in missed[:MAX_MISSED_RECORDED]:
            self.writer.call(lambda a, w=when: a.record_run(
                "fetch", "missed", source_id=source.id, scheduled_at=format_time(w),
                error="the service was not running at the scheduled time"))
        if len(missed) > MAX_MISSED_RECORDED:
            log.warning("source %s: more than %d runs missed since %s; recorded the first %d",
                        source.id, MAX_MISSED_RECORDED, row[0], MAX_MISSED_RECORDED)

    def _publish_next_runs(self) -> None:
        runs = self.next_runs()
        self.writer.call(lambda a: [a.set_state(sid, {"next_run": t or ""}) for sid, t in runs.items()])

    # -- jobs ---------------------------------------------------------------------------------

    def _on_missed(self, event: JobEvent) -> None:
        if event.job_id.startswith("__"):
            return
        if event.code == EVENT_JOB_MISSED:
            outcome, reason = "missed", "the job started too late (all workers were busy past the grace time)"
            when = event.scheduled_run_time
        else:
            outcome, reason = "skipped", "the previous run of this source was still going"
            when = event.scheduled_run_times[-1]
        self.writer.submit(lambda a: a.record_run("fetch", outcome, source_id=event.job_id,
                                                  scheduled_at=format_time(when), error=reason))

    def _run(self, source_id: str) -> None:
        scheduled = self.executor.scheduled.get(source_id)
        scheduled_at = format_time(scheduled) if scheduled else None
        with self._lock:
            source = self._sources.get(source_id)
            health = self._health.setdefault(source_id, _Health())
        if source is None:
            return  # removed by a reload after it was queued
        if (judged := self._judged.get(source_id)) is not None:
            wait([judged])  # its last run is committed and judged (its back-off known) before this one reads
        if self._draining.is_set():
            self.writer.call(lambda a: a.record_run("fetch", "skipped", source_id=source_id,
                                                    scheduled_at=scheduled_at, error="service shutting down"))
            return
        now = dt.datetime.now(dt.UTC)
        if health.not_before is not None and now < health.not_before:
            self.writer.call(lambda a: a.record_run(
                "fetch", "skipped", source_id=source_id, scheduled_at=scheduled_at,
                error=f"backing off after {health.failures} failed runs until {format_time(health.not_before)}",
                details={"failures": health.failures}))
            return
        pending = self.runner.start(source, scheduled_at=scheduled_at, should_stop=self._draining.is_set)
        self._judged[source_id] = self._collector.submit(self._judge, source, pending, health, now)

    def _judge(self, source: Source, pending: PendingRun, health: _Health, now: dt.datetime) -> None:
        """On the collector thread, once the run is committed: its back-off, and the next run's time."""
        source_id = source.id
        try:
            report = pending.collect()
        except (sqlite3.Error, OSError) as exc:  # the archive refused the run's records (disk full, busy)
            log.error("source %s: the run could not be recorded: %s", source_id,
                      classify(exc, self.db_path, 'recording a run'))
            return
        except Exception:  # nothing else would see it: the collector thread has no one to raise to
            log.exception("source %s: the run could not be collected", source_id)
            return
        if report.outcome == "failed":
            health.failures += 1
            if health.failures >= BACKOFF_AFTER:
                _, interval = trigger_for(source)
                pause = dt.timedelta(seconds=min(interval * 2 ** (health.failures - BACKOFF_AFTER),
                                                 self.config.settings.max_backoff))
                health.not_before = now + pause
                log.warning("source %s: %d failed runs in a row, next attempt not before %s",
                            source_id, health.failures, format_time(health.not_before), extra={"source": source_id})
        else:
            if health.failures >= BACKOFF_AFTER:
                log.info("source %s recovered after %d failed runs", source_id, health.failures,
                         extra={"source": source_id})
            health.failures, health.not_before = 0, None
        if self._draining.is_set():
            return  # the scheduler is shutting down and holds its job store: do not ask it
        job = self.scheduler.get_job(source_id)
        if job is not None and job.next_run_time is not None:
            next_run = format_time(job.next_run_time)
            self.writer.submit(lambda a: a.set_state(source_id, {"next_run": next_run}))

    def _verify(self) -> None:
        if self._draining.is_set():
            return
        try:
            report = verify_archive(self.db_path)  # its own read-only connection: the writer is not held
        except (ArchiveError, sqlite3.Error) as exc:  # corrupt, unreadable: a failed check, not a crashed job
            log.error("fixity check FAILED: %s", exc)
            try:
                self.writer.call(lambda a, error=exc: record_failure(a, error))
            except Exception as unrecorded:
                log.error("fixity check FAILED and could not be recorded: %s", unrecorded)
            return
        self.writer.call(lambda a: record_verification(a, report))
        if report.ok:
            log.info("fixity check: %s", report.summary())
        else:
            log.error("fixity check FAILED: %s (%s)", report.problems[0], report.summary())

    def _checkpoint(self) -> None:
        """Runs on a scheduler thread: the TSAs are asked from here, so a slow or dead one holds up
        nothing but this job; only the short signing and recording steps go through the writer."""
        from archiver.checkpoint import default_folder, default_key_path, load_key, take_checkpoint

        if self._draining.is_set():
            return
        settings = self.config.checkpoint
        try:
            key = load_key(Path(settings.key) if settings.key else default_key_path(self.db_path))
        except ArchiveError as exc:
            error = str(exc)
            self.writer.call(lambda a: a.record_run("checkpoint", "failed", error=error))
            log.error("checkpoint FAILED: %s", error)
            return
        folder = Path(settings.folder) if settings.folder else default_folder(self.db_path)
        try:
            report = take_checkpoint(self.writer.call, key, folder, settings.tsa)
        except Exception as exc:  # recorded as a failed run by take_checkpoint
            log.error("checkpoint FAILED: %s", exc)
            return
        for failure in report.failures:
            log.error("checkpoint %d: timestamp FAILED: %s", report.checkpoint_id, failure)
        log.info("%s", report.summary())

    # -- liveness -----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        while not self._beating.wait(self.heartbeat_seconds):
            self._beat()

    def _beat(self) -> None:
        """Tell `archiver status` (the heartbeat file) and systemd (WATCHDOG=1, STATUS=) how the service is.
        No ping when the scheduler or the writer is dead, so that systemd's watchdog restarts it."""
        alive = self.scheduler.running and self.writer.alive
        self._state.heartbeat_at = utcnow()
        self._state.datasette = self._datasette_state()
        self._state.status = (f"{len(self._sources)} sources scheduled" if alive else "not working: "
                              + ("the scheduler stopped" if not self.scheduler.running else "the writer died"))
        if self._state.datasette:
            self._state.status += f"; Datasette {self._state.datasette}"
        self._write_state()
        systemd.notify(*(["WATCHDOG=1"] if alive else []), f"STATUS={self._state.status}")

    def _write_state(self) -> None:
        try:
            heartbeat.write(self.db_path, self._state)
        except OSError as exc:  # status then cannot tell; the service itself goes on
            log.warning("cannot write the heartbeat file %s: %s", heartbeat.path_for(self.db_path), exc)

    def _datasette_state(self) -> str | None:
        if self.datasette is None:
            return None
        code = self.datasette.poll()
        if code is None:
            return f"serving on http://{self.host}:{self.port}/ (pid {self.datasette.pid})"
        return f"exited with code {code}"

    # -- publication --------------------------------------------------------------------------

    def _start_datasette(self) -> None:
        from archiver.fetch.secrets import Secrets
        from archiver.publish.server import datasette_command, public_environment

        command = datasette_command(self.db_path, host=self.host, port=self.port)
        secret_names = Secrets(self.config.settings.secrets_file).known_values().values()
        self.datasette = subprocess.Popen(command, preexec_fn=_die_with_parent,
                                          env=public_environment(os.environ, secret_names))
        log.info("Datasette serving %s read-only on http://%s:%d/ (pid %d)", self.db_path, self.host, self.port,
                 self.datasette.pid)

    def _supervise(self) -> None:
        """Restart the Datasette child whenever it dies, with a growing pause; each death is logged
        and recorded as a failed `serve` run (what `archiver status` shows)."""
        pause = RESTART_PAUSE[0]
        while self.datasette is not None:
            started = time.monotonic()
            status = self.datasette.wait()
            if self._draining.is_set():
                return
            if time.monotonic() - started > RESTART_RESET_AFTER:
                pause = RESTART_PAUSE[0]
            how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
            message = f"Datasette (pid {self.datasette.pid}) died: {how}; restarting in {pause:g} s"
            log.error("%s", message)
            self.writer.call(lambda a, m=message, st=status, p=pause: a.record_run(
                "serve", "failed", error=m, details={"exit_status": st, "restart_in": p}))
            if self._draining.wait(pause):
                return
            self._start_datasette()
            pause = min(pause * 2, RESTART_PAUSE[1])

