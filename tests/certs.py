"""Certificates made with OpenSSL for the loopback servers of tests: one authority per folder, and the
certificates it issues (a timestamp authority's, a TLS server's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_authority(folder: Path, name: str) -> Path:
    """A certificate authority (ca.pem, ca.key) in `folder`; returns ca.pem."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-subj", f"/CN={name} Root",
             "-days", "3", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=folder)
    return folder / "ca.pem"


def issue(folder: Path, stem: str, name: str, extensions: str) -> tuple[Path, Path]:
    """A certificate `stem`.pem with its key `stem`.key, issued by the authority of `folder`."""
    _openssl("req", *_KEY, "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{stem}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{stem}.pem", "-days", "3", "-extfile", f"{stem}.ext", cwd=folder)
    return folder / f"{stem}.pem", folder / f"{stem}.key"


def server_context(folder: Path) -> tuple[object, Path]:
    """An ssl.SSLContext serving a certificate for 127.0.0.1, and the authority (ca.pem) that issued it."""
    import ssl

    ca = make_authority(folder, "Loopback TLS")
    cert, key = issue(folder, "server", "127.0.0.1", "basicConstraints=CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, ca
