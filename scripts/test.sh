#!/usr/bin/env bash
# Set up and run the whole test suite: lint, the installed wheel (scripts/check_wheel.py), then pytest.
# The browser tests need Debian's chromium; as root on Debian it is installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check archiver tests bench scripts tools
.venv/bin/python scripts/check_wheel.py
exec .venv/bin/pytest "$@"
