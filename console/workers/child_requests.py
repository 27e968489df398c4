"""The engine's side of child runbooks started by runs on workers: it answers the
sealed requests a worker's child relay (`console.workers.child_relay`) sends over
NATS, on `opsconsole.children.<group>`.

A request does nothing before three checks: it is sealed with the key of the group
whose subject it came on (so only that group's workers can send it); it is fresh and
was never answered before (a copy read off the wire cannot be replayed); and it
carries the OPS_JOB_TOKEN of a running job, which the handler checks as the engine
checks every child job. A request that fails the first two gets no answer (a forger
learns nothing) and is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from console.workers.nats_link import MSG_ID_HEADER, open_message, sealed_headers
from console.workers.protocol import CHILDREN_PREFIX, ChildReply, ChildRequest
from console.workers.signing import ForgedMessage, GroupSeal

log = logging.getLogger(__name__)

# Seconds a request is taken after it was sent, either way (worker and engine clocks
# may differ a little); a copy replayed later is refused.
FRESH_FOR = 120.0

# (group, request) -> the answer, as the control API would give it
ChildHandler = Callable[[str, ChildRequest], Awaitable[ChildReply]]


class ChildRequests:
    """Subscribes to every group's child requests on the engine's NATS connection."""

    def __init__(self, seal_of: Callable[[str], GroupSeal | None], handler: ChildHandler) -> None:
        self._seal_of = seal_of
        self._handler = handler
        self._answered: dict[str, float] = {}  # request id -> when it stops being fresh
        self._answering: set[asyncio.Task[None]] = set()
        self._nc: NATS | None = None

    async def start(self, nc: NATS) -> None:
        self._nc = nc
        await nc.subscribe(f"{CHILDREN_PREFIX}.*", cb=self._on_request)

    def close(self) -> None:
        for task in self._answering:
            task.cancel()

    async def _on_request(self, msg: Msg) -> None:
        """Answer in a task of its own: a child's start waits for the store, and the
        subscription hands over its next message only when this returns."""
        task = asyncio.create_task(self._answer(msg))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Msg) -> None:
        group = msg.subject[len(CHILDREN_PREFIX) + 1 :]
        seal = self._seal_of(group)
        if seal is None:
            log.error(
                "refused a child request on %s: this engine has no key of group %s",
                msg.subject,
                group,
            )
            return
        request_id = (msg.headers or {}).get(MSG_ID_HEADER, "")
        try:
            request = ChildRequest.decode(open_message(seal, msg))
            self._check_fresh(request_id, request.sent_at)
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused a child request on %s: %s", msg.subject, exc)
            return
        reply = await self._handler(group, request)
        if msg.reply and self._nc is not None:
            body, headers = sealed_headers(seal, msg.reply, f"{request_id}.reply", reply.encode())
            with contextlib.suppress(Exception):  # the worker asks again if it must
                await self._nc.publish(msg.reply, body, headers=headers)

    def _check_fresh(self, request_id: str, sent_at: float) -> None:
        now = time.time()
        self._answered = {rid: until for rid, until in self._answered.items() if until > now}
        if not request_id or abs(now - sent_at) > FRESH_FOR:
            raise ForgedMessage(
                f"a request sent {now - sent_at:.0f} s ago (a replay, or the worker's "
                f"clock is off by more than {FRESH_FOR:.0f} s)"
            )
        if request_id in self._answered:
            raise ForgedMessage(f"request {request_id} was answered already (a replay)")
        self._answered[request_id] = now + 2 * FRESH_FOR
