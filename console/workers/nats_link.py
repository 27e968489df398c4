"""The one place the engine and workers connect to NATS, and the streams they share.

`open_nats` is the connector (`console.workers.connection`: credentials and TLS);
once connected it reconnects for ever, because a worker and an engine must outlive a
NATS restart. `ensure_streams` creates both streams or leaves them as they
are, so whichever side starts first sets them up.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RePublish, RetentionPolicy, StreamConfig
from nats.js.errors import BadRequestError

from console.workers.connection import NatsSettings, connect_nats
from console.workers.protocol import (
    DEDUP_WINDOW,
    EVENTS_MAX_AGE,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    ORDERS_PREFIX,
    ORDERS_STREAM,
    STORED_PREFIX,
)
from console.workers.signing import SIGNATURE_HEADER, GroupSeal

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
# The events stream announces each event it stored (with its body, its sequence and its
# subject's previous sequence) on STORED_PREFIX.<the subject's last token>: the engine's
# doorbell, and the event itself when nothing came between (console.workers.follow).
_ANNOUNCE = RePublish(
    src=f"{EVENTS_PREFIX}.*", dest=f"{STORED_PREFIX}.{{{{wildcard(1)}}}}", headers_only=False
)


async def open_nats(settings: NatsSettings, name: str) -> NATS:
    """A connection (named `name` in NATS's monitoring) that reconnects for ever; a
    first connection that fails is a typed NatsError naming the setting to fix."""
    return await connect_nats(settings, name)


async def ensure_streams(js: JetStreamContext) -> None:
    orders = StreamConfig(
        name=ORDERS_STREAM,
        subjects=[f"{ORDERS_PREFIX}.*"],
        retention=RetentionPolicy.WORK_QUEUE,
        duplicate_window=DEDUP_WINDOW,
    )
    events = StreamConfig(
        name=EVENTS_STREAM,
        subjects=[f"{EVENTS_PREFIX}.*"],
        retention=RetentionPolicy.LIMITS,
        max_age=EVENTS_MAX_AGE,
        duplicate_window=DEDUP_WINDOW,
        discard=DiscardPolicy.OLD,
        allow_direct=True,  # the engine reads a run's events with direct gets
        republish=_ANNOUNCE,
    )
    for config in (orders, events):
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # exists with other settings: keep it
            log.info("stream %s kept as it is: %s", config.name, exc)


async def events_config(js: JetStreamContext) -> StreamConfig:
    """The events stream's settings as the server has them. One made by an older
    version is given the announcements with bodies (its other settings kept); if that
    fails, the engine does with what it has (headers-only announcements: it reads each
    event; none: woken by the events themselves). Such a stream may also not answer
    direct gets: the engine then reads through the stream API."""
    config = (await js.stream_info(EVENTS_STREAM)).config
    if config.republish is None or config.republish.headers_only:
        had = config.republish
        config.republish = _ANNOUNCE
        try:
            config = (await js.update_stream(config)).config
        except Exception as exc:  # refused (permissions, an old server): do without
            log.warning("the events stream does not announce stored events (%s)", exc)
            config.republish = had
    return config


def sealed_headers(
    seal: GroupSeal, subject: str, message_id: str, plain: bytes
) -> tuple[bytes, dict[str, str]]:
    body, signature = seal.seal(subject, message_id, plain)
    return body, {MSG_ID_HEADER: message_id, SIGNATURE_HEADER: signature}


def open_message(seal: GroupSeal, msg: Msg) -> bytes:
    """The plain body of a received message; ForgedMessage when it is not the group's."""
    headers = msg.headers or {}
    return seal.open(
        msg.subject, headers.get(MSG_ID_HEADER, ""), msg.data, headers.get(SIGNATURE_HEADER)
    )
