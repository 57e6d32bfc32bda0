"""A real RFC 3161 timestamp authority on 127.0.0.1 for tests: OpenSSL's `ts -reply` with a CA and a
TSA certificate made here (extendedKeyUsage = critical,timeStamping), behind a tiny HTTP handler."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.certs import issue, make_authority

_TSA_CONFIG = """[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {folder}/serial
crypto_device = builtin
signer_cert = {folder}/tsa.pem
signer_key = {folder}/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def make_ca(folder: Path, name: str) -> None:
    """A CA (ca.pem) and a TSA certificate it issued (tsa.pem, tsa.key) in `folder`."""
    make_authority(folder, name)
    issue(folder, "tsa", name, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
          "extendedKeyUsage=critical,timeStamping\n")
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_TSA_CONFIG.format(folder=folder))


class LoopbackTSA:
    """`mode` is "ok" (OpenSSL answers), "garbage" (HTTP 200 with bytes that are no response),
    "error" (HTTP 500) or "hang" (sets `arrived`, answers only once `release` is set). `requests`
    counts the queries that arrived."""

    def __init__(self, folder: Path, name: str = "Loopback TSA") -> None:
        self.folder = folder
        make_ca(folder, name)
        self.ca = folder / "ca.pem"
        self.mode = "ok"
        self.requests = 0
        self.arrived, self.release = threading.Event(), threading.Event()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                tsa.requests += 1
                status, body = tsa._answer(query, self.headers.get("Content-Type", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._lock = threading.Lock()

    def _answer(self, query: bytes, content_type: str) -> tuple[int, bytes]:
        if self.mode == "error" or content_type != "application/timestamp-query":
            return 500, b"internal error"
        if self.mode == "hang":
            self.arrived.set()
            self.release.wait(120)
        if self.mode == "garbage":
            return 200, b"<html>this is not a timestamp</html>"
        with self._lock, tempfile.TemporaryDirectory() as tmp:  # OpenSSL keeps its serial in one file
            (Path(tmp) / "q.tsq").write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.folder / "tsa.cnf"), "-queryfile",
                            "q.tsq", "-out", "r.tsr"], cwd=tmp, check=True, capture_output=True, timeout=60)
            return 200, (Path(tmp) / "r.tsr").read_bytes()

    def __enter__(self) -> LoopbackTSA:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a TSA that is down)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
