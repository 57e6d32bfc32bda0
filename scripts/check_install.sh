#!/usr/bin/env bash
# Install archiver as docs/operations.md says, into a fresh venv with the pip that venv bundles (not
# upgraded: older pips resolve extras differently), then read one real statement page and one
# AES-encrypted PDF. Catches a dependency the code imports but pyproject.toml does not declare.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
mkdir "$work/src"
git ls-files -z | tar --null -T - -c | tar -x -C "$work/src"  # the working tree's files, no .venv
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$work/src"
cd "$work"
"$work/venv/bin/python" - "$OLDPWD/tests/fixtures" <<'PY'
import gzip, sys
from pathlib import Path
from archiver.platforms.statement import read_page
from archiver.platforms.un_communications import pdf_text

fixtures = Path(sys.argv[1])
page = gzip.decompress((fixtures / "trafilatura/pages/bmjv.de.konsum.html.gz").read_bytes()).decode()
facts = read_page("https://www.bmjv.de/DE/Verbraucherportal/KonsumImAlltag/TransparenzPreisanpassung/"
                  "TransparenzPreisanpassung_node.html", page)
assert facts.text and "innerhalb ihres Leitungsnetzes ein Monopol" in facts.text, "no main text extracted"
text, _ = pdf_text((fixtures / "pypdf/r6-empty-password.pdf").read_bytes(), "r6-empty-password.pdf")
assert text and "encryption test" in text, "encrypted PDF not read"
print("fresh install: statement page and encrypted PDF read")
PY
