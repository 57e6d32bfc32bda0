"""The charset an HTML document declares in a <meta>, found as the HTML Standard's prescan finds it
(§13.2.3.2, "prescan a byte stream to determine its encoding"): comments, other tags' attribute values
and unknown labels are stepped over, so `<!-- <meta charset=koi8-r> -->` or `<img alt="<meta
charset=x>">` is not taken for the page's declaration. Labels are the Encoding Standard's."""

from __future__ import annotations

import webencodings

_SPACE = b"\t\n\x0c\r "
_SPACE_OR_SLASH = _SPACE + b"/"
_SPACE_OR_END = _SPACE + b">"
_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))


class _Ended(Exception):
    """The bytes ran out inside a tag: the prescan finds nothing."""


def label_encoding(label: str | None) -> webencodings.Encoding | None:
    """The encoding a label names in the Encoding Standard, or None if it names none."""
    return webencodings.lookup(label) if label else None


def encoding(label: str) -> str | None:
    """The Encoding Standard's name for a label, or None if it is not one."""
    found = label_encoding(label)
    return found.name if found else None


def meta_charset(head: bytes) -> str | None:
    """The Encoding Standard's name of the encoding `head` declares in a <meta>, or None."""
    scan = _Scan(head)
    try:
        return scan.run()
    except _Ended:
        return None


class _Scan:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise _Ended
        return self.data[self.at]

    def next_is(self, offset: int, chars: bytes) -> bool:
        return self.at + offset < len(self.data) and self.data[self.at + offset] in chars

    def skip(self, chars: bytes) -> None:
        while self.byte() in chars:
            self.at += 1

    def run(self) -> str | None:
        data = self.data
        while (at := data.find(b"<", self.at)) >= 0:  # bytes outside markup are stepped over one by one
            self.at = at
            if data.startswith(b"<!--", self.at):
                end = data.find(b"-->", self.at + 2)  # the comment's own dashes may end it: <!-->
                if end < 0:
                    return None
                self.at = end + 2
            elif data[self.at:self.at + 5].lower() == b"<meta" and self.next_is(5, _SPACE_OR_SLASH):
                self.at += 5
                found = self.meta()
                if found:
                    return found
            elif self.next_is(2 if data.startswith(b"</", self.at) else 1, _LETTERS):  # another tag's start or end
                while self.byte() not in _SPACE_OR_END:
                    self.at += 1
                while self.attribute():
                    pass
            elif data[self.at:self.at + 2] in (b"<!", b"</", b"<?"):
                end = data.find(b">", self.at + 2)
                if end < 0:
                    return None
                self.at = end
            self.at += 1
        return None

    def meta(self) -> str | None:
        seen: set[str] = set()
        got_pragma, need_pragma, charset = False, None, None
        while attribute := self.attribute():
            name, value = attribute
            if name in seen:
                continue
            seen.add(name)
            if name == "http-equiv" and value == "content-type":
                got_pragma = True
            elif name == "content" and charset is None:
                declared = _content_charset(value)
                if declared:
                    charset, need_pragma = encoding(declared), True
            elif name == "charset":
                charset, need_pragma = encoding(value), False
        if need_pragma is None or (need_pragma and not got_pragma) or not charset:
            return None
        if charset in ("utf-16be", "utf-16le"):
            return "utf-8"  # a document the prescan can read as ASCII is not in UTF-16
        return "windows-1252" if charset == "x-user-defined" else charset

    def attribute(self) -> tuple[str, str] | None:
        """The next attribute (name, value) as the Standard's "get an attribute" reads it, or None."""
        self.skip(_SPACE_OR_SLASH)
        if self.byte() == ord(">"):
            return None
        name: list[str] = []
        while True:
            c = self.byte()
            if c == ord("=") and name:
                self.at += 1
                break
            if c in _SPACE:
                self.skip(_SPACE)
                if self.byte() != ord("="):
                    return "".join(name), ""
                self.at += 1
                break
            if c in b"/>":
                return "".join(name), ""
            name.append(_char(c))
            self.at += 1
        self.skip(_SPACE)
        value: list[str] = []
        quote = self.byte()
        if quote in b"\"'":
            while True:
                self.at += 1
                c = self.byte()
                if c == quote:
                    self.at += 1
                    return "".join(name), "".join(value)
                value.append(_char(c))
        if quote == ord(">"):
            return "".join(name), ""
        while (c := self.byte()) not in _SPACE_OR_END:
            value.append(_char(c))
            self.at += 1
        return "".join(name), "".join(value)


def _char(byte: int) -> str:
    """A byte as the prescan keeps it: ASCII letters lowercased, every other byte the code point of its value."""
    return chr(byte + 32) if 0x41 <= byte <= 0x5A else chr(byte)


def _content_charset(content: str) -> str | None:
    """The label in a `content="text/html; charset=..."` value (the Standard's "extracting a character
    encoding from a meta element")."""
    at = 0
    while (at := content.lower().find("charset", at)) >= 0:
        at += len("charset")
        rest = content[at:].lstrip("\t\n\x0c\r ")
        if not rest.startswith("="):
            continue
        rest = rest[1:].lstrip("\t\n\x0c\r ")
        if rest[:1] in ("'", '"'):
            end = rest.find(rest[0], 1)
            return rest[1:end] if end > 0 else None
        label = rest.split(";")[0].split()[:1]
        return label[0] if label else None
    return None
