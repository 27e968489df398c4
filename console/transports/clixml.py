"""PowerShell's CLIXML error stream, decoded to plain text lines as it arrives.

powershell.exe run over WinRM (stdin not a console) writes its error, warning,
verbose and debug records to stderr serialized as CLIXML: a `#< CLIXML` line, then
an `<Objs>` document of `<S S="Error">text_x000D__x000A_</S>` strings (characters a
string cannot hold escaped as `_xHHHH_`) and progress objects. A person wants the
text: error strings become stderr lines, warning/verbose/debug strings get the
`::warning::`-style prefixes the job streams know (console.runbooks.streams), and
progress records are dropped. Text that is not CLIXML passes through unchanged, and
a document that does not parse is passed through as it came: output is never lost.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

MARKER = b"#< CLIXML"
END = b"</Objs>"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_PREFIXES = {
    "error": "",
    "information": "",
    "warning": "::warning::",
    "verbose": "::verbose::",
    "debug": "::debug::",
}


class ClixmlDecoder:
    """Feed stderr chunks in order; get back plain text bytes ready for a line splitter."""

    def __init__(self) -> None:
        self._buffer = b""
        self._after_document = False  # the line break that ends a document is dropped

    def feed(self, chunk: bytes) -> bytes:
        self._buffer += chunk
        plain: list[bytes] = []
        while self._buffer:
            if self._after_document:
                self._buffer = self._buffer.lstrip(b"\r\n")
                self._after_document = not self._buffer
                continue
            if self._buffer.startswith(MARKER):
                end = self._buffer.find(END)
                if end < 0:
                    break  # the document is not complete yet
                document, self._buffer = (
                    self._buffer[: end + len(END)],
                    self._buffer[end + len(END) :],
                )
                self._after_document = True
                plain.append(decode_document(document))
            elif MARKER.startswith(self._buffer):
                break  # maybe the start of a marker
            else:
                plain.append(self._take_plain())
        return b"".join(plain)

    def flush(self) -> bytes:
        """Whatever is left once the stream ended (an unfinished document, as it came)."""
        rest, self._buffer = self._buffer, b""
        return rest

    def _take_plain(self) -> bytes:
        """Plain text up to a marker at a line start (or up to a possible one)."""
        found = self._buffer.find(b"\n" + MARKER)
        if found >= 0:
            cut = found + 1
        else:
            last = self._buffer.rfind(b"\n") + 1
            tail = self._buffer[last:]
            cut = last if last and MARKER.startswith(tail) else len(self._buffer)
        taken, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return taken


def decode_document(document: bytes) -> bytes:
    """The text of one `#< CLIXML` document, or the document itself if it is not one."""
    xml = document[len(MARKER) :].lstrip()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return document + b"\n"
    runs: list[tuple[str, str]] = []  # (prefix, text): a record's strings are joined
    for element in root:
        if element.tag.rpartition("}")[2] != "S":
            continue  # progress records and other objects
        prefix = _PREFIXES.get((element.get("S") or "").lower())
        if prefix is None:
            continue
        text = unescape(element.text or "")
        if runs and runs[-1][0] == prefix:
            runs[-1] = (prefix, runs[-1][1] + text)
        else:
            runs.append((prefix, text))
    lines = [
        prefix + line
        for prefix, text in runs
        for line in text.replace("\r\n", "\n").rstrip("\n").split("\n")
    ]
    return "".join(line + "\n" for line in lines).encode()


def unescape(text: str) -> str:
    """CLIXML's `_xHHHH_` escapes back to characters (`_x005F_` is an underscore)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
