"""PowerShell's CLIXML error stream decoded to text, however the Receive rounds cut it."""

from __future__ import annotations

from console.transports.clixml import ClixmlDecoder

DOCUMENT = (
    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    b'<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
    b'</T></TN><MS><I64 N="SourceId">1</I64></MS></Obj>'
    b'<S S="Error">disk C: is full_x000D__x000A_</S>'
    b'<S S="Error">At line:1 char:1_x000D__x000A_</S>'
    b'<S S="warning">low &amp; slow_x000D__x000A_</S>'
    b'<S S="verbose">path C:\\x_x005F_y_x000D__x000A_</S></Objs>'
)
TEXT = b"disk C: is full\nAt line:1 char:1\n::warning::low & slow\n::verbose::path C:\\x_y\n"


def _decode_in_pieces(data: bytes, size: int) -> bytes:
    decoder = ClixmlDecoder()
    out = b"".join(decoder.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + decoder.flush()


def test_a_document_is_decoded_whole_or_cut_anywhere() -> None:
    for size in (len(DOCUMENT), 1, 7, 64):
        assert _decode_in_pieces(DOCUMENT, size) == TEXT


def test_plain_text_around_a_document_passes_unchanged() -> None:
    data = b"plain before\n" + DOCUMENT + b"\r\nplain after #< CLIXML not at a line start\n"
    expected = b"plain before\n" + TEXT + b"plain after #< CLIXML not at a line start\n"
    for size in (len(data), 1, 5):
        assert _decode_in_pieces(data, size) == expected


def test_a_broken_or_unfinished_document_is_kept_as_it_came() -> None:
    broken = b'#< CLIXML\r\n<Objs><S S="Error">oops</Objs>'
    assert _decode_in_pieces(broken, 3).startswith(b"#< CLIXML")
    unfinished = b'#< CLIXML\r\n<Objs><S S="Error">cut off'
    assert _decode_in_pieces(unfinished, 4) == unfinished
