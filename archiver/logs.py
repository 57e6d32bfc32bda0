"""Log output of the archiver commands: text for a terminal and the journal, or `--log-format json` for
log shippers: one JSON object per line with time, level, logger, message, and the source and run a
line is about when it is about one (passed as `extra={"source": …, "run": …}`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="microseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("source", "run"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:  # only at DEBUG in this code base; kept in the one object, never a second line
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it and leaves other handlers (a test's capture) alone."""


def configure(level: int, fmt: str = "text") -> None:
    """Send the root logger to stderr at `level`, as text or JSON lines."""
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
