"""How the archive is served: the exact Datasette command line (live WAL file, the project's metadata,
settings, templates and static files), so that `archiver serve` and the service's built-in server are
the same thing."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from archiver.database import ArchiveError, connect

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_SUBDIR = Path("config") / "datasette"
# environment variables the public face must never hold, whatever the deployment names its tokens
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION", re.IGNORECASE)


def default_config_dir() -> Path:
    """config/datasette of the checkout this package runs from (an editable install, or a run from the
    repository), else of the working directory (an installed copy started in its checkout, as the
    systemd unit does)."""
    candidates = [PACKAGE_DIR.parent.parent / CONFIG_SUBDIR, Path.cwd() / CONFIG_SUBDIR]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise ArchiveError(f"no Datasette configuration: none of {', '.join(map(str, candidates))} exists "
                       "(pass the folder with --config-dir)")


def datasette_command(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001, *,
                      config_dir: str | Path | None = None) -> list[str]:
    """The argv that serves `db_path` read-only: opened mutable (it is being written), never --immutable."""
    config = Path(config_dir) if config_dir is not None else default_config_dir()
    if not config.is_dir():
        raise ArchiveError(f"Datasette configuration folder {config} does not exist")
    metadata = _find(config, ("metadata.yml", "metadata.yaml", "metadata.json"))
    command = [sys.executable, "-m", "datasette", "serve", str(Path(db_path).resolve()),
               "--host", host, "--port", str(port),
               "--template-dir", str(PACKAGE_DIR / "templates"),
               "--static", f"archiver-static:{PACKAGE_DIR / 'static'}"]
    if metadata is not None:
        command += ["--metadata", str(metadata)]
    settings_file = config / "settings.json"
    if settings_file.exists():
        try:
            settings = json.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{settings_file}: not a JSON object of Datasette settings ({exc})") from exc
        if not isinstance(settings, dict):
            raise ArchiveError(f"{settings_file}: not a JSON object of Datasette settings")
        for name, value in settings.items():
            command += ["--setting", name, json.dumps(value) if isinstance(value, bool) else str(value)]
    return command


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).exists():
            return (folder / name).resolve()
    return None


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001, *,
          config_dir: str | Path | None = None) -> None:
    """Replace this process with Datasette serving the archive (signals then go straight to it)."""
    connect(db_path, readonly=True).close()  # a missing or foreign file fails here, in one line
    command = datasette_command(db_path, host, port, config_dir=config_dir)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, public_environment(os.environ))


def public_environment(environ: Mapping[str, str], secret_names: Iterable[str] = ()) -> dict[str, str]:
    """The environment for Datasette: without token-like variables and the named secrets, so that
    nothing the public face runs (a plugin, an error page) can read a credential."""
    named = set(secret_names)
    return {name: value for name, value in environ.items() if name not in named and not _SECRET_NAME.search(name)}
