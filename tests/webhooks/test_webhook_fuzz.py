"""Property-based fuzzing of the real listener over raw sockets: random methods, paths,
headers, bodies, tokens and framings. Only a well-formed POST to an enabled, allowed,
unexpired webhook (with the right signature when one is required) may start a job, and
only once per delivery id; no request gets a 5xx, and the listener answers a valid
request afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.http_parser import SINGLETON_HEADERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.secrets import SecretBox
from console.webhooks.http import create_handler
from console.webhooks.listener import WebhookListener
from console.webhooks.registry import WebhookRegistry
from console.webhooks.replay import DELIVERY_HEADERS
from tests.webhooks.conftest import Jobs, MemoryStore, status_of

SECRET = "fuzz-secret"
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
HEADER_NAME_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
FRAMING_HEADERS = {
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "expect",
    "upgrade",
    "content-encoding",
    "x-hub-signature-256",
}
VALUE_BYTES = bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)])


@dataclass
class FuzzTarget:
    port: int
    jobs: Jobs
    tokens: dict[str, str]  # webhook name -> token


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """The listener on its own event loop thread, so hypothesis can drive it with plain
    blocking sockets."""
    box = SecretBox.for_data_dir(tmp_path_factory.mktemp("fuzz"), environ={})
    registry = WebhookRegistry(MemoryStore(), box)
    fast: dict[str, Any] = {"rate_limit": 10_000_000, "burst": 1_000_000}
    tokens = {
        "open": registry.create("open", "a.sh", **fast)[1],
        "signed": registry.create("signed", "a.sh", secret=SECRET, **fast)[1],
        "off": registry.create("off", "a.sh", **fast)[1],
        "walled": registry.create("walled", "a.sh", allow_from=["10.0.0.0/8"], **fast)[1],
        "old": registry.create(
            "old", "a.sh", now=time.time() - 7200, expires=time.time() - 3600, **fast
        )[1],
    }
    registry.disable("off")
    jobs = Jobs()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = WebhookListener(create_handler(registry, jobs.submit, body_timeout=5.0), port=0)
    asyncio.run_coroutine_threadsafe(listener.start(), loop).result(10)
    try:
        yield FuzzTarget(listener.port, jobs, tokens)
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(listener), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _shutdown(listener: WebhookListener) -> None:
    """Stop the listener, then end what aiohttp left running (connections still
    draining a refused body), as `asyncio.run` would."""
    await listener.stop()
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class FuzzRequest:
    method: bytes
    target: str  # a webhook name, "mutated:<name>", "random-token" or "random-path"
    path: bytes
    headers: list[tuple[bytes, bytes]]
    signature: str  # "none", "right" or "wrong"
    framing: str  # "exact", "chunked", "none" (empty body) or "short" (body cut off)
    body: bytes


methods = st.one_of(
    st.just(b"POST"),
    st.just(b"POST"),
    st.sampled_from(
        [b"GET", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS", b"post", b"CONNECT", b"TRACE"]
    ),
    st.text(alphabet=HEADER_NAME_CHARS, min_size=1, max_size=12).map(str.encode),
    st.binary(min_size=1, max_size=12),
)
header_names = (
    st.one_of(
        st.sampled_from(
            [
                "Content-Type",
                "User-Agent",
                "X-GitHub-Event",
                "Authorization",
                "Cookie",
                "Accept",
                "X-Request-Id",
            ]
        ),
        st.text(alphabet=HEADER_NAME_CHARS, min_size=1, max_size=20),
    )
    .filter(lambda name: name.lower() not in FRAMING_HEADERS)
    .map(str.encode)
)
header_values = st.lists(st.sampled_from(VALUE_BYTES), max_size=60).map(bytes).map(bytes.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@st.composite
def fuzz_requests(draw: st.DrawFn, tokens: dict[str, str]) -> FuzzRequest:
    kind = draw(
        st.sampled_from(
            [
                *tokens,
                "open",
                "open",
                "signed",
                "mutated:open",
                "mutated:signed",
                "random-token",
                "random-path",
            ]
        )
    )
    if kind in tokens:
        path = f"/webhooks/{tokens[kind]}".encode()
    elif kind.startswith("mutated:"):
        token = tokens[kind.split(":", 1)[1]]
        i = draw(st.integers(0, len(token) - 1))
        swap = draw(st.sampled_from(TOKEN_CHARS).filter(lambda c: c != token[i]))
        path = f"/webhooks/{token[:i]}{swap}{token[i + 1 :]}".encode()
    elif kind == "random-token":
        path = ("/webhooks/" + draw(st.text(alphabet=TOKEN_CHARS, max_size=60))).encode()
    else:
        path = draw(st.binary(min_size=1, max_size=80))
    if kind in tokens and draw(st.booleans()):
        path += b"?" + draw(st.text(alphabet=string.ascii_letters + "=&", max_size=20)).encode()
    return FuzzRequest(
        method=draw(methods),
        target=kind,
        path=path,
        headers=draw(st.lists(st.tuples(header_names, header_values), max_size=8)),
        signature=draw(st.sampled_from(["none", "right", "wrong"])),
        framing=draw(st.sampled_from(["exact", "exact", "chunked", "none", "short"])),
        body=draw(bodies),
    )


def encode(request: FuzzRequest) -> bytes:
    body = b"" if request.framing == "none" else request.body
    lines = [request.method + b" " + request.path + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in request.headers]
    if request.signature != "none":
        key = SECRET if request.signature == "right" else "not-the-secret"
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        lines.append(b"X-Hub-Signature-256: sha256=" + digest.encode())
    if request.framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif request.framing == "short":
        lines.append(f"Content-Length: {len(body) + 10}".encode())
        payload = body
    else:
        lines.append(f"Content-Length: {len(body)}".encode())
        payload = body
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def should_start_a_job(request: FuzzRequest) -> bool:
    names = [name.decode().lower() for name, _ in request.headers]
    duplicated = {n for n in names if names.count(n) > 1}
    return (
        request.method == b"POST"
        and request.framing != "short"
        and not duplicated & SINGLETON_HEADERS  # e.g. two Content-Type headers: 400
        and (
            request.target == "open"
            or (request.target == "signed" and request.signature == "right")
        )
    )


def delivery_id(request: FuzzRequest) -> tuple[str, str] | None:
    """The delivery a request names, as the listener reads it: the first of the
    delivery headers present with a non-blank value (the first such header of a name)."""
    for wanted in DELIVERY_HEADERS:
        values = [v for n, v in request.headers if n.decode().lower() == wanted.lower()]
        if values and (value := values[0].decode("utf-8", "surrogateescape").strip()):
            return request.target, value
    return None


def exchange(port: int, data: bytes, half_close: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:  # the body is cut short: the client goes away
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_fuzzed_requests_start_jobs_only_when_valid(target: FuzzTarget) -> None:
    started = time.monotonic()
    outcomes: dict[int | None, int] = {}
    delivered: set[tuple[str, str]] = set()  # a repeat is answered 202 and starts nothing

    @settings(
        max_examples=1000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=fuzz_requests(target.tokens))
    def check(request: FuzzRequest) -> None:
        before = len(target.jobs.calls)
        reply = exchange(target.port, encode(request), request.framing == "short")
        status = status_of(reply)
        outcomes[status] = outcomes.get(status, 0) + 1
        new_calls = len(target.jobs.calls) - before
        delivery = delivery_id(request)
        if should_start_a_job(request) and delivery in delivered:
            assert status == 202, reply[:300]
            assert new_calls == 0
        elif should_start_a_job(request):
            assert status == 202, reply[:300]
            assert new_calls == 1
            if delivery is not None:
                delivered.add(delivery)
            body = b"" if request.framing == "none" else request.body
            data = target.jobs.calls[-1][1]
            assert data["RequestBody"] == body.decode("utf-8", "replace")
        else:
            assert new_calls == 0, request
            assert status != 202
            assert status is None or status < 500, reply[:300]

    check()
    # The listener still serves a valid request, promptly.
    reply = exchange(
        target.port,
        encode(
            FuzzRequest(
                b"POST",
                "open",
                f"/webhooks/{target.tokens['open']}".encode(),
                [],
                "none",
                "exact",
                b'{"after": "fuzz"}',
            )
        ),
        half_close=False,
    )
    assert status_of(reply) == 202
    # ~17 s on an idle 2-core machine; requests held to the 5 s body timeout would be minutes.
    assert time.monotonic() - started < 150
    # The run did exercise the accepting path: 48 to 80 of 1,000 examples are valid in
    # the runs seen so far (random seeds), so ask for half the lowest.
    assert outcomes.get(202, 0) >= 25
    assert sum(n for s, n in outcomes.items() if s in (400, 404, 405)) >= 300
