"""The webhook listener: an aiohttp server answering `POST /webhooks/{token}`.

Answers follow Azure Automation: 202 `{"JobIds": [...]}` once the engine has durably
created the job, 400 for a disabled or expired webhook, 404 for an unknown token.
Beyond Azure: 401 (signature required and missing or wrong), 403 (client address not
allowed), 405, 408 (body too slow), 413 (body over 512 KiB), 429 (rate limit, with
Retry-After), 400 for a body cut short, 500 (the job could not be created; nothing was
started). Malformed HTTP is answered 400 by aiohttp before any of this runs.

Order of checks, and why:

1. Method (405): does not depend on the token, so it says nothing about it.
2. Token (404): the token is the secret. Without it a caller learns nothing else: every
   guess is 404, whatever webhooks exist, and no other check runs.
3. Allow-list (403): before anything that depends on the webhook's state, so a client
   outside the list (even one holding a leaked URL) cannot learn whether the webhook is
   enabled, expired or signed, and cannot spend its rate budget.
4. Enabled, then expiry (400): Azure's answers.
5. Signature header present (401), and a declared Content-Length over the limit (413):
   both cheap, decided before any body byte is read.
6. The client's own budget (429): requests that start nothing (a wrong signature, a
   replayed delivery) are charged to a bucket per webhook and client address, with the
   webhook's rate and burst; a client that spent it is refused here, before its body
   is read or hashed. Its refusals never touch the budget of the webhook's sender.
7. Signed webhooks: body (below), then the signature value (401): an HMAC of the raw
   body, compared in constant time, with the current secret or, during its grace
   period after `rotate-secret`, the previous one. A failure is charged to step 6.
8. Replay (202 with the first delivery's job ids, nothing started): a delivery id
   (`X-GitHub-Delivery`, `X-Request-Id`, `Idempotency-Key`) this webhook accepted in
   the last 24 h; see `console.webhooks.replay`. Charged to step 6.
9. Rate limit (429, with Retry-After): the webhook's budget, spent only by requests
   that passed every check above and will start a job. For an unsigned webhook, which
   has nothing more to check, this comes before the body is read, so a flood costs no
   body reads.
10. Body: read in chunks up to the limit (413) within a deadline (408); never more
    than the limit plus one chunk is held in memory. A JSON body nested deeper than
    `MAX_JSON_DEPTH` (64) levels is refused 400 `TooDeeplyNested` before any 202: the
    engine copies and re-reads WebhookData, and such a body would exhaust its stack.
11. submit (202, or 500 if it raised: no job ids are reported because none were kept).

Tokens and signatures never reach the logs: the access log prints the path as
`/webhooks/<redacted>`, and a filter redacts them (and any query string after them)
from aiohttp's own error messages (which quote the first bytes of a malformed request
line). Nor do they reach the job: see `console.webhooks.masking`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

from console.errors import ConfigError
from console.webhooks.limits import MAX_JSON_DEPTH, body_too_deep
from console.webhooks.masking import MASK, TokenScrubber
from console.webhooks.rate_limit import RateLimiter
from console.webhooks.registry import SIGNATURE_HEADER, Webhook, WebhookRegistry
from console.webhooks.replay import DeliveryLog, delivery_key

MAX_BODY = 512 * 1024  # Azure's webhook payload limit
BODY_TIMEOUT = 10.0  # seconds a client may take to send its body
HEADER_TIMEOUT = 15.0  # seconds a connection may sit without a complete request

Submit = Callable[[Webhook, dict[str, Any]], Awaitable[list[str]]]
Handler = Callable[[BaseRequest], Awaitable[web.StreamResponse]]

log = logging.getLogger("console.webhooks.http")
access_log = logging.getLogger("console.webhooks.http.access")
server_log = logging.getLogger("console.webhooks.http.server")

_SECRET_IN_TEXT = (
    (re.compile(r"/webhooks/[^\s'\"#]*"), "/webhooks/" + MASK),
    (re.compile(r"sha(1|256)=[0-9A-Za-z]+"), r"sha\1=" + MASK),
)


def redact(text: str) -> str:
    """Remove webhook tokens and signatures from a text bound for a log."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record, message and traceback text, with secrets redacted.

    aiohttp logs every malformed request at ERROR with a traceback; a port scanner would
    flood the log. Those are the client's fault: one WARNING line without traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            text += f": {type(exc).__name__}: {(exc.message or '').partition(chr(10))[0]}"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        record.exc_text = None
        record.msg = redact(text)
        record.args = None
        return True


for _logger in (log, access_log, server_log):
    _logger.addFilter(RedactingFilter())


class RedactedAccessLogger(AbstractAccessLogger):
    """One line per refused request; the token in the path is never printed. An
    accepted request (202) is not logged here: the engine logs it as its queued job,
    with the job id, the webhook and the runbook (one line per event, not two)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status == 202:
            return
        self.logger.info(
            "%s %s %s %s %d %.3fs",
            request.remote,
            request.method,
            redact(request.path),
            response.status,
            response.body_length,
            time,
        )


class _Reject(Exception):
    """A request refused with an HTTP error; carries the response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _too_deep() -> web.Response:
    return _error(
        400,
        "TooDeeplyNested",
        f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects",
    )


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An Azure-style JSON error: `{"error": {"code": ..., "message": ...}}`."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def _clean(text: str) -> str:
    """Header text as aiohttp decodes it may hold lone surrogates (invalid UTF-8
    bytes); make it valid text so the job record can be stored as JSON."""
    if text.isascii():  # nearly every header: nothing to repair
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # made once, not per body


def webhook_data(
    webhook: Webhook, headers: Mapping[str, str], body: bytes, scrub: TokenScrubber
) -> dict[str, Any]:
    """Azure's `WebhookData`: the webhook's name and the request's headers and body.

    Job inputs are stored, shown with the job and sent to its hosts, so credential
    headers are masked and the webhook's token is removed wherever it appears (`scrub`,
    see `console.webhooks.masking`). `RequestBodyJson` is added when the body is strict
    JSON, so runbooks need not parse it themselves.
    """
    merged: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for name, raw in headers.items():
        value = scrub.header_value(name, _clean(raw))
        key = spelled.setdefault(name.lower(), scrub(_clean(name)))
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    text = scrub(body.decode("utf-8", "replace"))
    data: dict[str, Any] = {
        "WebhookName": webhook.name,
        "RequestHeader": merged,
        "RequestBody": text,
    }
    with contextlib.suppress(ValueError, RecursionError):  # not JSON: RequestBody only
        data["RequestBodyJson"] = _STRICT_JSON.decode(text)
    return data


class _WebhookHandler:
    def __init__(
        self,
        registry: WebhookRegistry,
        submit: Submit,
        now: Callable[[], float],
        body_timeout: float,
        max_body: int,
        limiter: RateLimiter,
        deliveries: DeliveryLog,
    ) -> None:
        self._registry = registry
        self._submit = submit
        self._now = now
        self._body_timeout = body_timeout
        self._max_body = max_body
        self._limiter = limiter
        self._deliveries = deliveries

    async def handle(self, request: BaseRequest) -> web.Response:
        token = _token(request.path)
        if token is None:
            return _error(404, "NotFound", "webhooks are at /webhooks/<token>")
        try:
            webhook = self._admit(request, token)
            now = self._now()
            body = await self._authenticate(webhook, request, now)
            delivery = delivery_key(webhook, request.headers)
            earlier = None if delivery is None else self._deliveries.seen(delivery)
            if earlier is not None:  # a replay: nothing more is started
                self._charge_idle(webhook, request, now)
                if body is None:
                    await self._read_body(request)  # a broken request is refused all the same
                return _accepted(earlier)
            self._charge(webhook, now)
            if body is None:
                body = await self._read_body(request)
            if body_too_deep(body):
                raise _Reject(_too_deep())
        except _Reject as rejected:
            return rejected.response
        scrub = TokenScrubber((token, _raw_token(request.raw_path)))
        return await self._start(
            webhook, webhook_data(webhook, request.headers, body, scrub), delivery
        )

    def _admit(self, request: BaseRequest, token: str) -> Webhook:
        """Every check that needs no body, in the order the module docstring explains."""
        if request.method != "POST":
            raise _Reject(
                _error(
                    405, "MethodNotAllowed", "webhooks accept POST only", headers={"Allow": "POST"}
                )
            )
        webhook = self._registry.lookup(token)
        if webhook is None:
            raise _Reject(_error(404, "WebhookNotFound", "no webhook has this URL"))
        if not webhook.allows(request.remote):
            raise _Reject(_error(403, "Forbidden", "this client address may not call this webhook"))
        now = self._now()
        if not webhook.enabled:
            raise _Reject(_error(400, "WebhookDisabled", "the webhook is disabled"))
        if webhook.expired(now):
            raise _Reject(_error(400, "WebhookExpired", "the webhook has expired"))
        if webhook.requires_signature and SIGNATURE_HEADER not in request.headers:
            raise _Reject(
                _error(
                    401, "SignatureRequired", f"this webhook requires an {SIGNATURE_HEADER} header"
                )
            )
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _Reject(self._too_large())
        idle_wait = self._limiter.wait(_idle_key(webhook, request), *_budget(webhook), now)
        if idle_wait is not None:
            raise _Reject(_too_many(idle_wait))
        return webhook

    async def _authenticate(
        self, webhook: Webhook, request: BaseRequest, now: float
    ) -> bytes | None:
        """The body of a signed webhook's request once its signature is checked (a
        failure is charged to the client's own budget); None for an unsigned webhook,
        whose body is read only after the rate limit."""
        if not webhook.requires_signature:
            return None
        body = await self._read_body(request)
        if not self._registry.verify_signature(
            webhook, body, request.headers.get(SIGNATURE_HEADER), now
        ):
            self._charge_idle(webhook, request, now)
            raise _Reject(
                _error(
                    401,
                    "InvalidSignature",
                    f"the {SIGNATURE_HEADER} signature does not match the body",
                )
            )
        return body

    def _charge(self, webhook: Webhook, now: float) -> None:
        """Spend the webhook's budget (429 when it is spent)."""
        wait = self._limiter.take(webhook.name, *_budget(webhook), now)
        if wait is not None:
            raise _Reject(_too_many(wait))

    def _charge_idle(self, webhook: Webhook, request: BaseRequest, now: float) -> None:
        """Spend the client's budget for requests that start nothing (checked in
        `_admit`, so an empty one only refuses the client's next request)."""
        self._limiter.take(_idle_key(webhook, request), *_budget(webhook), now)

    async def _read_body(self, request: BaseRequest) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            if request.content.is_eof():  # it all came with the headers: no timer, no wait
                body = request.content.read_nowait()
                if len(body) > self._max_body:
                    raise _Reject(self._too_large())
                return body
            async with asyncio.timeout(self._body_timeout):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > self._max_body:
                        raise _Reject(self._too_large())
                    chunks.append(chunk)
        except TimeoutError:
            response = _error(
                408, "RequestTimeout", f"the body did not arrive within {self._body_timeout:g} s"
            )
            response.force_close()
            raise _Reject(response) from None
        except (web.RequestPayloadError, HttpProcessingError, ConnectionError):
            # Broken chunked encoding, or the client went away before the whole body.
            response = _error(400, "IncompleteBody", "the request body was incomplete")
            response.force_close()
            raise _Reject(response) from None
        return b"".join(chunks)

    def _too_large(self) -> web.Response:
        response = _error(
            413, "PayloadTooLarge", f"the body exceeds the {self._max_body // 1024} KiB limit"
        )
        response.force_close()  # do not spend time draining an oversized body
        return response

    async def _start(
        self, webhook: Webhook, data: dict[str, Any], delivery: str | None
    ) -> web.Response:
        try:
            if delivery is None:
                job_ids = await self._submit(webhook, data)
            else:  # a concurrent copy of this delivery waits for this one, and gets its ids
                job_ids = await self._deliveries.once(delivery, lambda: self._submit(webhook, data))
        except Exception:
            log.exception("webhook %s: the job could not be created", webhook.name)
            return _error(
                500,
                "JobNotCreated",
                "the job could not be created and nothing was started; resubmit",
            )
        return _accepted(job_ids)


def _accepted(job_ids: list[str]) -> web.Response:
    return web.Response(
        status=202,
        body=json.dumps({"JobIds": job_ids}).encode(),
        content_type="application/json",
    )


def _too_many(wait: float) -> web.Response:
    return _error(
        429,
        "TooManyRequests",
        "rate limit exceeded; retry later",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _budget(webhook: Webhook) -> tuple[int, int]:
    return webhook.rate_limit, webhook.burst


def _idle_key(webhook: Webhook, request: BaseRequest) -> str:
    """The bucket of one client's requests that start nothing (see the module doc)."""
    return f"{webhook.name} from {request.remote}"


def _token(path: str) -> str | None:
    """The token of a `/webhooks/<token>` path (one segment), else None."""
    prefix, _, token = path.rpartition("/")
    return token if prefix == "/webhooks" and token else None


def _raw_token(raw_path: str) -> str:
    """The token as the client spelled it (percent-encoded or not), for masking."""
    return raw_path.partition("?")[0].rpartition("/")[2]


def create_handler(
    registry: WebhookRegistry,
    submit: Submit,
    *,
    now: Callable[[], float] = time.time,
    body_timeout: float = BODY_TIMEOUT,
    max_body: int = MAX_BODY,
    limiter: RateLimiter | None = None,
    deliveries: DeliveryLog | None = None,
) -> Handler:
    """The webhook request handler. `submit(webhook, webhook_data)` must create the
    job durably and return its ids; the client is answered 202 only after it returns.
    `limiter` and `deliveries` are kept in memory unless given (the intake worker gives
    ones backed by files, so that they outlive it).

    It serves the one route itself, on aiohttp's low-level server: no application,
    router or middleware runs per request (a tenth of the cost of a request)."""
    return _WebhookHandler(
        registry,
        submit,
        now,
        body_timeout,
        max_body,
        limiter or RateLimiter(),
        deliveries or DeliveryLog(now=now),
    ).handle


class WebhookListener:
    """Serves a webhook application on one address, loopback by default.

    `port=0` picks a free port (see `.port` after `start()`); `sock` serves a socket
    that is already listening instead (the intake worker's, bound by the engine). With
    `ssl_cert` and `ssl_key` it serves HTTPS, TLS 1.2 or later. `public_url` overrides
    `url_base` for URLs shown to users when the listener sits behind a proxy or binds a
    wildcard.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 8080,
        ssl_cert: str | Path | None = None,
        ssl_key: str | Path | None = None,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        shutdown_timeout: float = 5.0,
        public_url: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        if (ssl_cert is None) != (ssl_key is None):
            raise ConfigError("TLS needs both a certificate and a key file")
        self._handler = handler
        self._host = host
        self._port = port
        self._ssl_cert = ssl_cert
        self._ssl_key = ssl_key
        self._header_timeout = header_timeout
        self._shutdown_timeout = shutdown_timeout
        self._public_url = public_url
        self._sock = sock
        if sock is not None:
            self._host, self._port = sock.getsockname()[:2]
        self._runner: web.ServerRunner | None = None

    @property
    def tls(self) -> bool:
        return self._ssl_cert is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url_base(self) -> str:
        """`scheme://host:port`, the prefix of every webhook URL this listener serves."""
        return listener_url(self._host, self._port, self.tls, self._public_url)

    async def start(self) -> None:
        context = self._ssl_context()
        server = web.Server(
            self._handler,
            access_log_class=RedactedAccessLogger,
            access_log=access_log,
            logger=server_log,
            # aiohttp applies this to a connection from its first byte until a complete
            # request has arrived, so it also ends clients that dribble their headers.
            keepalive_timeout=self._header_timeout,
            # The body is passed on as sent: no decompression bomb, and the HMAC is
            # computed over the bytes the sender signed.
            auto_decompress=False,
            # After an early answer (413, 401...) unread body bytes are drained this long
            # so the client can read the answer, then the connection is closed.
            lingering_time=2.0,
        )
        runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site: web.BaseSite = (
            web.TCPSite(runner, self._host, self._port, ssl_context=context)
            if self._sock is None
            else web.SockSite(runner, self._sock, ssl_context=context)
        )
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"the webhook listener cannot listen on {self._host}:{self._port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self._port = runner.addresses[0][1]
        if context is None and not _is_loopback(self._host):
            log.warning(
                "webhook listener on %s without TLS: tokens cross the network in clear text",
                self._host,
            )
        log.info("webhook listener on %s", self.url_base)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None if self._ssl_cert is None else tls_context(self._ssl_cert, self._ssl_key)


def tls_context(cert: str | Path | None, key: str | Path | None) -> ssl.SSLContext:
    """The listener's TLS settings (TLS 1.2 or later); ConfigError if the files are
    missing or do not load."""
    if cert is None or key is None:
        raise ConfigError("TLS needs both a certificate and a key file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from exc
    return context


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port), as aiohttp would bind it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(
            f"the webhook listener cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"the webhook listener cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return sock


def listener_url(host: str, port: int, tls: bool, public_url: str | None = None) -> str:
    """`scheme://host:port` of a listener, or the public URL it is reached by."""
    if public_url:
        return public_url.rstrip("/")
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}"


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
