"""UN letters as AES-encrypted PDFs: real files from pypdf's own resources (BSD-3, SOURCES.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.platforms import ParseError
from archiver.platforms.un_communications import pdf_text

PDFS = Path(__file__).resolve().parent / "fixtures" / "pypdf"


@pytest.mark.parametrize("name", ["r5-empty-password.pdf", "r6-empty-password.pdf"])
def test_aes_encrypted_pdfs_that_open_without_a_password_are_read(name: str) -> None:
    text, pages = pdf_text((PDFS / name).read_bytes(), f"https://un.example/{name}")
    assert pages == 1 and "pdf encryption test" in (text or "")


@pytest.mark.parametrize("name", ["r4-aes-user-password.pdf", "crazyones-encrypted-256.pdf"])
def test_a_pdf_that_needs_a_password_is_one_clear_parse_error(name: str) -> None:
    with pytest.raises(ParseError, match="encrypted with a password") as caught:
        pdf_text((PDFS / name).read_bytes(), f"https://un.example/{name}")
    assert f"https://un.example/{name}" in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_encrypted_pdf_is_a_parse_error_not_a_crash() -> None:
    body = (PDFS / "r6-empty-password.pdf").read_bytes()
    with pytest.raises(ParseError, match="unreadable PDF"):
        pdf_text(body[: len(body) // 2] + b"\x00" * 64, "https://un.example/cut.pdf")
