"""The webhook listener, driven by a real aiohttp client over 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import ssl
import time
from pathlib import Path

import aiohttp
import pytest

from console.errors import ConfigError
from console.webhooks.http import create_handler
from console.webhooks.listener import WebhookListener
from tests.certs import self_signed_cert
from tests.webhooks.conftest import MakeServer, Server, raw_exchange, raw_head, status_of


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(url: str, body: bytes = b"{}", **kwargs: object) -> tuple[int, dict, dict]:
    """POST and return (status, JSON body, headers)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            **kwargs,  # type: ignore[arg-type]
        ) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def test_accepted_request_starts_a_job_with_webhook_data(server: Server) -> None:
    token = server.create()
    url = server.url(token)
    assert url == f"http://127.0.0.1:{server.port}/webhooks/{token}"
    status, body, _ = await post(
        url,
        b'{"ref": "refs/heads/main"}',
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer abc",
            "Cookie": "session=xyz",
            "X-GitHub-Event": "push",
        },
    )
    assert (status, body) == (202, {"JobIds": ["job-1"]})
    [(webhook, data)] = server.jobs.calls
    assert (webhook.name, webhook.runbook, webhook.parameters) == (
        "deploy",
        "deploy.sh",
        {"env": "prod"},
    )
    assert data["WebhookName"] == "deploy"
    assert data["RequestBody"] == '{"ref": "refs/heads/main"}'
    assert data["RequestBodyJson"] == {"ref": "refs/heads/main"}
    headers = data["RequestHeader"]
    assert headers["X-GitHub-Event"] == "push"
    assert headers["Authorization"] == "<redacted>"
    assert headers["Cookie"] == "<redacted>"


async def test_202_is_sent_only_after_submit_returned(server: Server) -> None:
    token = server.create()
    server.jobs.gate = asyncio.Event()
    request = asyncio.create_task(post(server.url(token)))
    while "submit called" not in server.jobs.events:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert not request.done()  # the client is still waiting while submit is pending
    server.jobs.gate.set()
    status, body, _ = await request
    server.jobs.events.append("client got response")
    assert (status, body) == (202, {"JobIds": ["job-1"]})
    assert server.jobs.events == ["submit called", "submit returned", "client got response"]


async def test_unknown_and_near_miss_tokens_are_404(server: Server) -> None:
    token = server.create()
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    for candidate in (near, token[:-1], token + "A", "x" * len(token)):
        status, body, _ = await post(server.url(candidate))
        assert status == 404
        assert body["error"]["code"] == "WebhookNotFound"
    assert server.jobs.calls == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(server: Server, method: str) -> None:
    token = server.create()
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.url(token)) as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
    assert server.jobs.calls == []


async def test_disabled_webhook_is_400_until_enabled(server: Server) -> None:
    token = server.create()
    server.registry.disable("deploy")
    status, body, _ = await post(server.url(token))
    assert (status, body["error"]["code"]) == (400, "WebhookDisabled")
    server.registry.enable("deploy")
    assert (await post(server.url(token)))[0] == 202
    assert len(server.jobs.calls) == 1


async def test_expired_webhook_is_400(server: Server) -> None:
    token = server.create(expires=server.clock() + 3600)
    assert (await post(server.url(token)))[0] == 202
    server.clock.offset = 3601
    status, body, _ = await post(server.url(token))
    assert (status, body["error"]["code"]) == (400, "WebhookExpired")
    assert len(server.jobs.calls) == 1


async def test_declared_oversized_body_is_413_without_reading_it(server: Server) -> None:
    token = server.create()
    head = (
        f"POST /webhooks/{token} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {1024 * 1024 * 1024}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    response = await raw_head(server.port, head + b"x" * 1000, timeout=60)
    assert status_of(response) == 413
    assert time.monotonic() - started < 5  # not waiting for the body (10 s timeout)
    assert server.jobs.calls == []


async def test_streamed_oversized_body_is_413(server: Server) -> None:
    token = server.create()

    async def chunks():  # no Content-Length: chunked transfer encoding
        for _ in range(20):
            yield b"y" * 64 * 1024

    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(server.url(token), data=chunks()) as response:
                assert response.status == 413
        except aiohttp.ClientOSError:
            pass  # the server may close before the client finished sending
    assert server.jobs.calls == []
    # a body of exactly the limit is accepted
    assert (await post(server.url(token), b"z" * 512 * 1024))[0] == 202
    assert len(server.jobs.calls[0][1]["RequestBody"]) == 512 * 1024


async def test_rate_limit_gives_429_with_retry_after_then_recovers(server: Server) -> None:
    token = server.create(rate_limit=6, burst=3)  # one token every 10 s
    statuses = [(await post(server.url(token)))[0] for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    status, body, headers = await post(server.url(token))
    assert (status, body["error"]["code"]) == (429, "TooManyRequests")
    assert 1 <= int(headers["Retry-After"]) <= 10
    server.clock.offset = 10.5
    assert (await post(server.url(token)))[0] == 202
    assert len(server.jobs.calls) == 4


async def test_rate_limit_is_per_webhook(server: Server) -> None:
    busy = server.create("busy", rate_limit=1, burst=1)
    quiet = server.create("quiet")
    assert [(await post(server.url(busy)))[0] for _ in range(2)] == [202, 429]
    assert (await post(server.url(quiet)))[0] == 202


async def test_signature_required_missing_wrong_and_right(server: Server) -> None:
    token = server.create(secret="gh-secret")
    body = b'{"action": "opened"}'
    status, reply, _ = await post(server.url(token), body)
    assert (status, reply["error"]["code"]) == (401, "SignatureRequired")
    status, reply, _ = await post(
        server.url(token), body, headers={"X-Hub-Signature-256": sign("wrong", body)}
    )
    assert (status, reply["error"]["code"]) == (401, "InvalidSignature")
    status, _, _ = await post(
        server.url(token), body, headers={"X-Hub-Signature-256": sign("gh-secret", body + b" ")}
    )
    assert status == 401
    assert server.jobs.calls == []
    good = sign("gh-secret", body)
    status, reply, _ = await post(server.url(token), body, headers={"X-Hub-Signature-256": good})
    assert (status, reply) == (202, {"JobIds": ["job-1"]})
    headers = server.jobs.calls[0][1]["RequestHeader"]
    assert headers["X-Hub-Signature-256"] == "<redacted>"
    assert good not in json.dumps(server.jobs.calls[0][1])


async def test_allow_list_excluding_loopback_is_403(server: Server) -> None:
    outside = server.create("outside", allow_from=["10.0.0.0/8", "2001:db8::/32"])
    inside = server.create("inside", allow_from=["10.0.0.0/8", "127.0.0.0/8"])
    status, body, _ = await post(server.url(outside))
    assert (status, body["error"]["code"]) == (403, "Forbidden")
    assert (await post(server.url(inside)))[0] == 202
    # A client outside the list learns nothing about the webhook's state.
    server.registry.disable("outside")
    assert (await post(server.url(outside)))[0] == 403
    assert len(server.jobs.calls) == 1


async def test_ipv6_listener_and_allow_list(make_server: MakeServer) -> None:
    server = await make_server(host="::1")
    v6 = server.create("v6", allow_from=["::1/128"])
    v4_only = server.create("v4-only", allow_from=["127.0.0.0/8"])
    assert server.url(v6) == f"http://[::1]:{server.port}/webhooks/{v6}"
    assert (await post(server.url(v6)))[0] == 202
    assert (await post(server.url(v4_only)))[0] == 403
    assert len(server.jobs.calls) == 1


async def test_submit_failure_is_500_without_job_ids(server: Server) -> None:
    token = server.create()
    server.jobs.fail = OSError("store is read-only")
    status, body, _ = await post(server.url(token))
    assert status == 500
    assert "JobIds" not in body
    assert body["error"]["code"] == "JobNotCreated"
    server.jobs.fail = None
    assert (await post(server.url(token)))[0] == 202


async def test_tls_listener(make_server: MakeServer, tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    server = await make_server(ssl_cert=cert, ssl_key=key)
    token = server.create()
    url = server.url(token)
    assert url.startswith(f"https://127.0.0.1:{server.port}/webhooks/")
    trust = ssl.create_default_context(cafile=str(cert))
    status, body, _ = await post(url, ssl=trust)
    assert (status, body) == (202, {"JobIds": ["job-1"]})
    # Plain HTTP to the TLS port starts nothing.
    with pytest.raises(aiohttp.ClientError):
        await post(url.replace("https://", "http://"))
    assert len(server.jobs.calls) == 1


async def test_tokens_and_signatures_never_reach_the_logs(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.create()
    signed = server.create("signed", secret="gh-secret")
    body = b'{"a": 1}'
    good = sign("gh-secret", body)
    await post(server.url(token))
    await post(server.url(token[:-1] + "Q"))
    await post(server.url(signed), body, headers={"X-Hub-Signature-256": good})
    await post(server.url(signed), body, headers={"X-Hub-Signature-256": sign("x", body)})
    server.jobs.fail = RuntimeError("boom")
    await post(server.url(token))
    # A request line too long for aiohttp: its error message quotes the first bytes.
    long_line = f"POST /webhooks/{token}?{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert status_of(await raw_exchange(server.port, long_line)) == 400
    # A header too long: aiohttp quotes the header line.
    long_header = (
        f"POST /webhooks/{token} HTTP/1.1\r\nHost: x\r\n"
        f"X-Hub-Signature-256: {good}{'0' * 9000}\r\n\r\n"
    ).encode()
    assert status_of(await raw_exchange(server.port, long_header)) in (400, 431)
    text = caplog.text
    assert "/webhooks/<redacted>" in text  # the access log did run
    assert "boom" in text  # the submit failure was logged, with its cause
    malformed = [r for r in caplog.records if r.name == "console.webhooks.http.server"]
    assert malformed and all(
        r.levelname == "WARNING" and "\n" not in r.getMessage() for r in malformed
    )  # one line each, no traceback to flood logs
    assert token not in text and token[:20] not in text
    assert good not in text and good[7:27] not in text


async def test_listener_setup_errors_are_config_errors(server: Server, tmp_path: Path) -> None:
    handler = create_handler(server.registry, server.jobs.submit)
    with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
        await WebhookListener(handler, port=server.port).start()  # port already taken
    with pytest.raises(ConfigError, match="both a certificate and a key"):
        WebhookListener(handler, port=0, ssl_cert=tmp_path / "cert.pem")
    missing = WebhookListener(
        create_handler(server.registry, server.jobs.submit),
        port=0,
        ssl_cert=tmp_path / "nope.pem",
        ssl_key=tmp_path / "nope.key",
    )
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        await missing.start()
    assert (await post(server.url(server.create())))[0] == 202  # the first one still serves
