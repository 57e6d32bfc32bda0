#!/usr/bin/env bash
# The main job: set up, create (or upgrade) the archive, then run the scheduled archiver with
# Datasette serving the archive read-only on http://127.0.0.1:8001/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/archiver init
exec .venv/bin/archiver run "$@"
