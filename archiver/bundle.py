"""The evidence bundle of one post: one zip with the post's captures as WACZ (made by the `wacz` package
from a WARC written with warcio), its versions as JSON, each version's inclusion proof with the signed
checkpoint it is made against, a SHA-256 manifest of every file, and a short text on how to check it all
without this software."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from wacz.main import main as wacz_main

from archiver.database import ArchiveError, connect
from archiver.warc import export_warc

HOW_TO_VERIFY = """How to check this bundle
========================

1. The files are the ones the archive made: `sha256sum -c SHA256SUMS` (every line must say OK).
2. The captures are a valid web archive: `wacz validate -f post.wacz` (the `wacz` Python package) checks
   the WACZ package and its digests; open post.wacz in ReplayWeb.page (https://replayweb.page) to see the
   pages as captured. Inside, archive/post.warc.gz holds each HTTP exchange as WARC 1.1 request and response
   records (payload digests are SHA-256, WARC-Payload-Digest).
3. versions.json holds every version of the post with the SHA-256 of its content, the capture (WARC record
   date and URL) it was read from and when the archive saw it. The archive's own `archiver verify`
   recomputes these digests and the hash chain over every capture, version and event.
4. proofs/version-N.proof.json is the inclusion proof of version N in the archive's transparency log, against
   the signed checkpoint checkpoint-SIZE.txt (also inside each proof): `python3 verify_evidence.py inclusion
   proofs/version-N.proof.json --key VKEY` (the archive's tools/verify_evidence.py; VKEY is the archive's
   published verifier key) checks the row, its digest, its chain entry and its place in the signed tree.
   Compare the checkpoint with a copy deposited elsewhere. A version without a proof here was recorded after
   the latest checkpoint.
5. For a capture made over https, the WARC's metadata record beside its response names the certificate the
   server showed (tls-certificate-sha256, subject, issuer, validity). Look the SHA-256 up in a public
   Certificate Transparency log (for example https://crt.sh/?q=SHA256): the log, kept apart from the
   archive, shows that the certificate was issued for that host, by whom and when.
"""


def post_bundle(db_path: str | Path, post: dict[str, Any], versions: list[dict[str, Any]],
                capture_ids: list[int], proofs: dict[int, dict[str, Any] | None]) -> bytes:
    """The bundle (zip bytes) for `post` with `versions`, its captures being `capture_ids`, and the inclusion
    proof of each version number in `proofs` (archiver.proofs.inclusion_bundle; None: not yet in a checkpoint)."""
    with tempfile.TemporaryDirectory(prefix="archiver-bundle-") as folder:
        work = Path(folder)
        warc = work / "post.warc.gz"
        ids = sorted(set(capture_ids) | _revisited(db_path, capture_ids))
        report = export_warc(db_path, warc, capture_ids=ids)
        wacz = work / "post.wacz"
        files: dict[str, bytes] = {}
        if report.records.get("response") or report.records.get("revisit"):
            title = post.get("title") or post.get("native_id") or "post"
            with contextlib.redirect_stdout(io.StringIO()):  # the wacz tool reports progress on stdout
                failed = wacz_main(["create", "-o", str(wacz), str(warc), "--detect-pages", "--title", str(title)])
            if failed:
                raise ArchiveError(f"wacz could not package the captures of post {post.get('native_id')}")
            files["post.wacz"] = wacz.read_bytes()
        files["versions.json"] = json.dumps({"post": post, "versions": versions}, ensure_ascii=False, indent=2,
                                            default=str).encode()
        for number, proof in sorted(proofs.items()):
            if proof is not None:
                files[f"proofs/version-{number}.proof.json"] = json.dumps(proof, ensure_ascii=False, indent=2).encode()
                files[f"checkpoint-{proof['tree_size']}.txt"] = proof["checkpoint"].encode()
        files["HOW-TO-VERIFY.txt"] = HOW_TO_VERIFY.encode()
        files["SHA256SUMS"] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                      for name, data in files.items()).encode()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, data in files.items():
                bundle.writestr(name, data)
        return out.getvalue()


def _revisited(db_path: str | Path, capture_ids: list[int]) -> set[int]:
    """The captures whose payload a revisit among `capture_ids` confirms: the WACZ needs their responses."""
    conn = connect(db_path, readonly=True)
    try:
        marks = ", ".join(str(int(i)) for i in capture_ids) or "NULL"
        return {row[0] for row in conn.execute(
            f"SELECT revisit_of FROM captures WHERE id IN ({marks}) AND revisit_of IS NOT NULL")}
    finally:
        conn.close()
