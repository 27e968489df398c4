"""The nats-server fixture the worker tests stand on: JetStream answers, and a stream's
messages survive a restart (the redelivery guarantees depend on it)."""

from __future__ import annotations

import nats
import pytest

from tests.nats_server import NatsServer


async def test_jetstream_keeps_a_message_across_a_server_restart(nats_server: NatsServer) -> None:
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    await js.add_stream(name="probe", subjects=["probe.>"])
    ack = await js.publish("probe.one", b"kept")
    assert ack.seq == 1
    await client.close()

    nats_server.restart(kill=True)

    client = await nats.connect(nats_server.url)
    message = await client.jetstream().get_msg("probe", 1)
    assert message.data == b"kept"
    await client.close()


async def test_a_client_without_the_password_is_refused(nats_server_with_auth: NatsServer) -> None:
    anonymous = nats_server_with_auth.url.replace("engine:s3cret-nats@", "")
    with pytest.raises(Exception, match=r"[Aa]uthoriz"):
        await nats.connect(anonymous, max_reconnect_attempts=0, allow_reconnect=False)
    client = await nats.connect(nats_server_with_auth.url)
    assert client.is_connected
    await client.close()
