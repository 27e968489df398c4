"""Bad requests never crash or stall the listener, and never start a job."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.webhooks.conftest import MakeServer, Server, raw_exchange, raw_head, status_of


def request_bytes(token: str, body: bytes, extra: str = "", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        f"POST /webhooks/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def timed_post(server: Server, token: str) -> tuple[int, float]:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url(token), data=b"{}") as response,
    ):
        return response.status, time.monotonic() - started


async def test_invalid_json_and_invalid_utf8_bodies_still_start_the_job(server: Server) -> None:
    token = server.create()
    bodies = [b'{"unterminated": ', b"\xff\xfe ref=\xc3(", b"NaN", b"x" + b"[" * 100_000]
    for body in bodies:
        assert status_of(await raw_exchange(server.port, request_bytes(token, body))) == 202
    data = [d for _, d in server.jobs.calls]
    assert len(data) == 4
    assert all("RequestBodyJson" not in d for d in data)  # none is strict JSON
    assert data[0]["RequestBody"] == '{"unterminated": '
    assert data[1]["RequestBody"] == "\ufffd\ufffd ref=\ufffd("  # replaced, not a crash
    assert len(data[3]["RequestBody"]) == 100_001


async def test_json_nested_deeper_than_the_limit_is_refused_before_any_job(server: Server) -> None:
    token = server.create()
    for depth in (65, 700, 100_000):
        body = b"[" * depth + b"]" * depth
        answer = await raw_exchange(server.port, request_bytes(token, body))
        assert status_of(answer) == 400 and b"TooDeeplyNested" in answer
    assert server.jobs.calls == []


async def test_invalid_utf8_in_headers_is_stored_as_valid_text(server: Server) -> None:
    token = server.create()
    raw = request_bytes(token, b"{}", extra="X-Note: cafe\r\n").replace(
        b"X-Note: cafe", b"X-Note: caf\xe9\xff"
    )  # Latin-1 and a byte invalid in UTF-8
    assert status_of(await raw_exchange(server.port, raw)) == 202
    note = server.jobs.calls[0][1]["RequestHeader"]["X-Note"]
    note.encode("utf-8")  # valid text: storable as JSON
    assert note.startswith("caf")


async def test_huge_or_too_many_headers_are_refused(server: Server) -> None:
    token = server.create()
    huge = request_bytes(token, b"{}", extra=f"X-Big: {'a' * 100_000}\r\n")
    assert status_of(await raw_exchange(server.port, huge)) in (400, 431)
    many = request_bytes(token, b"{}", extra="".join(f"X-H{i}: v\r\n" for i in range(500)))
    assert status_of(await raw_exchange(server.port, many)) in (400, 431)
    assert server.jobs.calls == []
    assert (await timed_post(server, token))[0] == 202


async def test_conflicting_framing_is_refused(server: Server) -> None:
    token = server.create()
    smuggle = request_bytes(token, b"0\r\n\r\n", extra="Transfer-Encoding: chunked\r\n")
    assert status_of(await raw_exchange(server.port, smuggle)) == 400
    bad_chunks = (
        f"POST /webhooks/{token} HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    ).encode()
    assert status_of(await raw_exchange(server.port, bad_chunks)) == 400
    assert server.jobs.calls == []


async def test_body_shorter_than_content_length_times_out(make_server: MakeServer) -> None:
    server = await make_server(body_timeout=1.0)
    token = server.create()
    started = time.monotonic()
    reply = await raw_head(server.port, request_bytes(token, b'{"a":', length=100))
    assert status_of(reply) == 408
    assert 0.9 < time.monotonic() - started < 10
    assert server.jobs.calls == []


async def test_body_longer_than_content_length_is_refused(server: Server) -> None:
    token = server.create()
    reply = await raw_exchange(server.port, request_bytes(token, b"12345GARBAGE", length=5))
    assert status_of(reply) == 400  # bytes after the body of a `Connection: close` request
    assert server.jobs.calls == []


async def test_slow_body_is_cut_off_while_others_are_served(make_server: MakeServer) -> None:
    server = await make_server(body_timeout=6)
    token = server.create()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request_bytes(token, b"", length=40))

    async def dribble() -> None:
        for _ in range(40):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.5)  # 20 s in all, cut off at 6

    dribbling = asyncio.create_task(dribble())
    try:
        await asyncio.sleep(0.3)
        status, took = await timed_post(server, token)  # served while the other dribbles
        assert status == 202 and took < 3
        reply = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        assert status_of(reply) == 408
        assert not dribbling.done()  # cut off before the client finished
    finally:
        dribbling.cancel()
        writer.close()
    assert len(server.jobs.calls) == 1  # only the normal request


async def test_slow_headers_are_cut_off_while_others_are_served(
    make_server: MakeServer,
) -> None:
    server = await make_server(header_timeout=6)
    token = server.create()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()

    async def dribble() -> None:
        for byte in request_bytes(token, b"{}"):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)  # over 20 s in all, cut off at 6

    dribbling = asyncio.create_task(dribble())
    try:
        status, took = await timed_post(server, token)
        assert status == 202 and took < 3
        assert await asyncio.wait_for(reader.read(), 60) == b""  # closed by the server
        assert time.monotonic() - started < 15
    finally:
        dribbling.cancel()
        writer.close()
    assert len(server.jobs.calls) == 1


async def test_client_vanishing_mid_body_starts_nothing(server: Server) -> None:
    token = server.create()
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request_bytes(token, b'{"half":', length=1000))
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await asyncio.sleep(0.2)
    assert server.jobs.calls == []
    assert (await timed_post(server, token))[0] == 202


async def test_non_http_bytes_are_refused(server: Server) -> None:
    token = server.create()
    tls_hello = bytes.fromhex("16030100a5010000a10303") + bytes(range(40))
    for garbage in (tls_hello, b"\x00" * 64 + b"\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"):
        assert status_of(await raw_exchange(server.port, garbage)) in (None, 400, 404, 505)
    assert server.jobs.calls == []
    assert (await timed_post(server, token))[0] == 202
