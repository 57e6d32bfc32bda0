"""CI: the archiver as an operator installs it. Builds the wheel, installs it with the pip that a fresh
`python3 -m venv` ships (not upgraded) into a folder outside the checkout, and there runs `archiver init`,
`archiver fetch` of a statement page on a loopback server (text extracted), the reading of an AES-encrypted
PDF letter, and `archiver serve` (HTTP 200 with the statement on its page). A dependency the code imports
but pyproject.toml does not declare fails here, as it would for an operator. Needs the package index for the
dependencies, nothing else.

Usage: python scripts/check_wheel.py   (exit 0 when every step worked; the failing step is named)"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
STATEMENT = "The ministry reaffirms its commitment to the freedom of assembly in every region."
PAGES = {
    "/statements": "<html><head><title>Statements</title></head><body><ul>"
                   '<li><a href="/statements/1">Statement on assembly</a></li></ul></body></html>',
    "/statements/1": "<html><head><title>Statement on assembly</title></head><body><main><article>"
                     "<h1>Statement on assembly</h1><time datetime='2026-11-30'>30 November 2026</time>"
                     f"<p>{STATEMENT}</p><p>{STATEMENT.replace('region', 'city')}</p>"
                     "<p>Issued by the press office.</p></article></main></body></html>",
}


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        data = (body or "not found").encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def statement_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def step(name: str, argv: list[str], cwd: Path) -> str:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    print(f"check_wheel: {name}: exit {done.returncode} in {time.monotonic() - started:.0f} s", flush=True)
    if done.returncode != 0:
        sys.exit(f"check_wheel: {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def build_wheel(dist: Path) -> Path:
    """The archiver wheel built from this checkout into `dist` (the build backend comes from the index)."""
    step("build the wheel", [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist),
                             str(CHECKOUT)], CHECKOUT)
    return next(dist.glob("archiver-*.whl"))


def fresh_venv(path: Path, python: str = "python3") -> Path:
    """A venv as an operator makes one (`python3 -m venv`, its bundled pip not upgraded); its bin folder.
    Run from inside a venv, `venv` makes one of the interpreter that venv was made from."""
    step("make a fresh venv", [python, "-m", "venv", str(path)], path.parent)
    return path / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, server: subprocess.Popen[bytes], wait: float) -> str:
    """The body of a 200 answer at `url`, waiting up to `wait` seconds for the server to come up."""
    give_up = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError) as exc:
            if server.poll() is not None:
                sys.exit(f"check_wheel: archiver serve exited with {server.returncode}: "
                         f"{server.stderr.read().decode()[-3000:] if server.stderr else ''}")
            if time.monotonic() > give_up:
                sys.exit(f"check_wheel: archiver serve: no HTTP 200 from {url}: {exc}")
            time.sleep(0.5)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="archiver-wheel-") as scratch:
        root = Path(scratch)
        wheel = build_wheel(root / "dist")
        bin_dir = fresh_venv(root / "venv")
        step("install the wheel with the bundled pip", [str(bin_dir / "pip"), "install", "--quiet", str(wheel)], root)
        work = root / "operator"  # outside the checkout: nothing there but what the operator writes
        work.mkdir()
        archiver = str(bin_dir / "archiver")
        step("archiver init", [archiver, "init", "--db", "archive.db"], work)
        with statement_site() as site:
            (work / "sources.toml").write_text(
                '[archiver]\ncontact = "mailto:operations@archive.test"\nallow_private = true\n\n'
                f'[[source]]\nid = "ministry"\nkind = "webpage"\nlocator = "{site}/statements"\n'
                'name = "Ministry statements"\nschedule = "every 1h"\noptions = { item = "li" }\n',
                encoding="utf-8")
            step("archiver fetch URL", [archiver, "fetch", "--db", "archive.db", "--allow-private",
                                        f"{site}/statements/1"], work)
            fetched = step("archiver fetch SOURCE", [archiver, "fetch", "--db", "archive.db", "--config",
                                                     "sources.toml", "ministry"], work)
        rows = json.loads(step("read the extracted text", [
            archiver, "export", "--db", "archive.db", "--format", "json", "--sql", "SELECT id, text FROM posts"],
            work))
        if len(rows) != 1 or STATEMENT not in (rows[0]["text"] or ""):
            sys.exit(f"check_wheel: the statement's text was not extracted: {fetched.strip()}")
        letter = CHECKOUT / "tests" / "fixtures" / "pypdf" / "r6-empty-password.pdf"
        read = step("read an AES-encrypted PDF letter", [str(bin_dir / "python"), "-c", (
            "import sys; from pathlib import Path; from archiver.platforms.un_communications import pdf_text; "
            "print(pdf_text(Path(sys.argv[1]).read_bytes(), 'letter.pdf')[0])"), str(letter)], work)
        if "encryption test" not in read:
            sys.exit(f"check_wheel: the encrypted PDF was not read: {read.strip()[:300]}")
        port = free_port()
        server = subprocess.Popen([archiver, "serve", "--db", "archive.db", "--port", str(port)], cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            get(f"http://127.0.0.1:{port}/", server, wait=60)
            page = get(f"http://127.0.0.1:{port}/-/post/{rows[0]['id']}", server, wait=5)
        finally:
            server.terminate()
            server.wait(timeout=10)
        if STATEMENT not in page:
            sys.exit("check_wheel: archiver serve: the post page does not show the statement")
        print("check_wheel: archiver serve: HTTP 200, the post page shows the statement")


if __name__ == "__main__":
    main()
