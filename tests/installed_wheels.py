"""Wheels of the distributions installed in this interpreter's environment, so that a fresh venv can
install the project's dependencies with `pip install --no-index --find-links` (no package index): the same
files, at the versions the tests run with."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from importlib.metadata import Distribution, distributions
from pathlib import Path

# written by the installer, not part of a wheel
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def _editable(dist: Distribution) -> bool:
    direct = dist.read_text("direct_url.json")
    return bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))


def _tag(dist: Distribution) -> str:
    """The wheel's compressed tag set (`py2.py3-none-any`) from the Tag lines of its WHEEL file."""
    tags = [line.split(":", 1)[1].strip().split("-") for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]
    return "-".join(".".join(sorted({tag[part] for tag in tags})) for part in range(3))


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: Distribution, folder: Path) -> Path:
    """The installed `dist` as a wheel in `folder`: its files under site-packages (console scripts are
    made again by pip from entry_points.txt; bytecode is compiled again), with a new RECORD."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    wheel = folder / f"{name}-{dist.version}-{_tag(dist)}.whl"
    record: list[str] = []
    info = next(str(file.parts[0]) for file in dist.files or [] if file.parts[0].endswith(".dist-info"))
    # stored, not deflated: these wheels are unpacked once, next door
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as packed:
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            if file.parts[0] == info and file.name in _INSTALLER_FILES:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            packed.writestr(str(file), data)
            record.append(f"{file},{_digest(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        packed.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def wheelhouse(folder: Path) -> Path:
    """Every distribution installed from a wheel (not an editable checkout) repacked into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in distributions():
        if dist.files and dist.read_text("WHEEL") and not _editable(dist):
            repack(dist, folder)
    return folder
