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

Tokens and signatures never reach the logs (`console.webhooks.http_logs`) nor the job
(`console.webhooks.masking`). The server that serves this handler is
`console.webhooks.listener`; the `WebhookData` it builds, `console.webhooks.webhook_data`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

from console.webhooks.http_logs import log
from console.webhooks.limits import MAX_JSON_DEPTH, body_too_deep
from console.webhooks.masking import TokenScrubber
from console.webhooks.rate_limit import RateLimiter
from console.webhooks.registry import SIGNATURE_HEADER, Webhook, WebhookRegistry
from console.webhooks.replay import DeliveryLog, delivery_key
from console.webhooks.webhook_data import webhook_data

MAX_BODY = 512 * 1024  # Azure's webhook payload limit
BODY_TIMEOUT = 10.0  # seconds a client may take to send its body

Submit = Callable[[Webhook, dict[str, Any]], Awaitable[list[str]]]
Handler = Callable[[BaseRequest], Awaitable[web.StreamResponse]]


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
    router or middleware runs per request, the bulk of aiohttp's cost of a request."""
    return _WebhookHandler(
        registry,
        submit,
        now,
        body_timeout,
        max_body,
        limiter or RateLimiter(),
        deliveries or DeliveryLog(now=now),
    ).handle
