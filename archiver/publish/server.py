"""How the archive is served: the exact Datasette command line (the live WAL file and the operator's
metadata), so that `archiver serve` and the service's built-in server are the same thing. Everything
else of the face (templates, static files, the project's metadata and settings) comes from the plugin,
which Datasette loads however it is started."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from archiver.database import ArchiveError, connect

PACKAGE_DIR = Path(__file__).resolve().parent
# environment variables the public face must never hold, whatever the deployment names its tokens
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION", re.IGNORECASE)


def default_config_dir() -> Path:
    """The shipped Datasette metadata and settings: config/datasette of the repository, installed as
    the package data `archiver.datasette_defaults` (pyproject.toml), so a wheel serves from any folder
    and an editable install reads the checkout's files."""
    folder = resources.files("archiver.datasette_defaults")
    if not isinstance(folder, Path):  # e.g. a zipped install: no folder to hand to Datasette
        raise ArchiveError(f"no Datasette configuration folder in this installation ({folder}): "
                           "pass one with --config-dir")
    return folder.resolve()


def datasette_command(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001, *,
                      config_dir: str | Path | None = None) -> list[str]:
    """The argv that serves `db_path` read-only: opened mutable (it is being written), never --immutable."""
    config = Path(config_dir) if config_dir is not None else default_config_dir()
    if not config.is_dir():
        raise ArchiveError(f"Datasette configuration folder {config} does not exist")
    metadata = metadata_file(config)
    command = [sys.executable, "-m", "datasette", "serve", str(Path(db_path).resolve()),
               "--host", host, "--port", str(port)]
    if metadata is not None:
        command += ["--metadata", str(metadata)]
    return command


def metadata_file(folder: Path) -> Path | None:
    """The operator's Datasette metadata in `folder`, if any."""
    for name in ("metadata.yml", "metadata.yaml", "metadata.json"):
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
