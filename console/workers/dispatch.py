"""The engine's side of worker groups: a routed host run becomes an order, and the
events the worker sends back become the same `on_line` calls and exit status a run in
the engine produces, so streams, stored output and the TUI do not know the difference.

A host is routed by its `console_worker_group` var (host or group var). The order is
published with JetStream's acknowledged publish before the host run says it is queued
for the group. The run's events are followed from its own subject; once a worker said
`started`, silence longer than `LOST_AFTER` (counted only while the engine is connected
to NATS) ends the run: "worker lost while the run was in progress". A run waiting
for its group while no worker of it is online (their heartbeats, `console.workers.
presence`) says so in its queued reason, and fails after `worker_wait` seconds of that:
its start is claimed then, so no worker coming later runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from nats.aio.client import Client as NATS

from console.assets.model import AssetKind, AssetResolver
from console.errors import ConfigError, HostConfigError, NoOnlineWorker
from console.inventory.model import Host
from console.jobs.host_run import RunCallbacks, Work
from console.jobs.time_limit import TimeLimit
from console.transports.base import ExitStatus
from console.workers.child_requests import ChildHandler, ChildRequests
from console.workers.connection import NatsSettings
from console.workers.events_out import publish_until_stored
from console.workers.follow import Doorbells, Follower
from console.workers.nats_link import ensure_streams, events_config, open_nats, sealed_headers
from console.workers.presence import online_workers
from console.workers.protocol import (
    GROUP_VAR,
    STARTED,
    WORKDIR_PLACEHOLDER,
    Event,
    Order,
    Stop,
    b64,
    control_subject,
    events_subject,
    order_subject,
    run_on_pattern,
)
from console.workers.signing import GroupSeal

log = logging.getLogger(__name__)

NATS_ENV = "OPSCONSOLE_NATS"
KEY_ASSET_PREFIX = "worker-group-"
PRESENCE_CHECK = 2.0  # seconds between looks at a waiting run's group's workers


class GroupDispatch:
    """Hands routed host runs to their groups; one NATS connection per engine."""

    def __init__(
        self,
        nats: NatsSettings | None,
        group_key: Callable[[str], str],
        worker_wait: float,
        children: ChildHandler | None = None,
        credentials: Callable[[Host], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        self._settings = nats
        self._credentials = credentials
        self._children = ChildRequests(self._seal_of, children) if children else None
        self._group_key = group_key
        self._worker_wait = worker_wait
        self._nc: NATS | None = None
        self._connecting = asyncio.Lock()
        self._seals: dict[str, GroupSeal] = {}
        self._doorbells = Doorbells()
        self._direct = False
        # group -> (when looked, any worker online): one look per group and PRESENCE_CHECK
        # serves every run waiting for it (a thousand queued runs, one KV read).
        self._online: dict[str, tuple[float, bool]] = {}
        self._looking: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        self._doorbells.stop()
        if self._children is not None:
            self._children.close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    async def _nats(self, host: Host, group: str) -> NATS:
        if self._settings is None:
            raise HostConfigError(
                host.name,
                f"routed to worker group {group} ({GROUP_VAR}) but this engine has no NATS: "
                f"start serve or the console with --nats URL, or set {NATS_ENV}",
            )
        async with self._connecting:
            if self._nc is None:
                nc = await open_nats(self._settings, "opsconsole engine")
                await ensure_streams(nc.jetstream())
                events = await events_config(nc.jetstream())
                self._direct = bool(events.allow_direct)
                await self._doorbells.start(nc, announced=events.republish is not None)
                if self._children is not None:
                    await self._children.start(nc)
                self._nc = nc
        return self._nc

    def _seal(self, host_name: str, group: str) -> GroupSeal:
        """The group's seal; HostConfigError for `host_name` when its key is unusable."""
        seal = self._seals.get(group)
        if seal is None:
            try:
                seal = self._seals[group] = GroupSeal(self._group_key(group))
            except Exception as exc:
                raise HostConfigError(
                    host_name,
                    f"worker group {group} needs its key, the encrypted variable asset "
                    f"{KEY_ASSET_PREFIX}{group}: {exc}",
                ) from exc
        return seal

    async def check_ready(self, host: Host, group: str) -> None:
        """Raise HostConfigError now when the group has no key or the engine no NATS."""
        self._seal(host.name, group)
        await self._nats(host, group)

    def _seal_of(self, group: str) -> GroupSeal | None:
        """The group's seal for a request no host run is waiting on, or None when the
        group has no usable key."""
        try:
            return self._seal(run_on_pattern(group), group)
        except HostConfigError as exc:
            log.error("%s", exc)
            return None

    async def run(
        self,
        job_id: str,
        host: Host,
        group: str,
        work: Work,
        limit: TimeLimit,
        calls: RunCallbacks,
        env: Mapping[str, str],
        after: int = 0,
        applied: Callable[[int], None] | None = None,
    ) -> ExitStatus:
        """Run `work` on `host` through `group`; raises HostError as a transport would.
        `env` joins the invocation's environment; `after`: follow its events after
        this stream sequence (an engine restarted); `applied` is told each sequence
        whose event is applied and stored."""
        seal = self._seal(host.name, group)
        nc = await self._nats(host, group)
        order = _order(job_id, host, work, limit, env)
        if self._credentials is not None:
            order.credentials = self._credentials(host)
        follower = Follower(nc, seal, host, order.id, self._doorbells, after, applied, self._direct)
        try:
            return await limit.bound(
                self._hand_over(nc, seal, group, order, follower, calls), host, "not ended within"
            )
        except BaseException:
            if not follower.ended:
                await asyncio.shield(self._stop(nc, seal, group, order.id))
            raise
        finally:
            follower.close()

    async def _hand_over(
        self,
        nc: NATS,
        seal: GroupSeal,
        group: str,
        order: Order,
        follower: Follower,
        calls: RunCallbacks,
    ) -> ExitStatus:
        subject = order_subject(group)
        ack = await publish_until_stored(nc.jetstream(), seal, subject, order.id, order.encode())
        calls.on_queued(f"queued for worker group {group}")
        waiting = asyncio.ensure_future(self._wait_for_a_worker(nc, group, follower, calls))
        # A first order has no events yet; a second publish (a resumed run) may have.
        following = asyncio.ensure_future(follower.follow(calls, look_first=bool(ack.duplicate)))
        try:
            await asyncio.wait({waiting, following}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done() and waiting.exception() is not None:
                raise waiting.exception()  # type: ignore[misc]
            return await following
        finally:
            for task in (waiting, following):
                task.cancel()
            await asyncio.gather(waiting, following, return_exceptions=True)

    async def _wait_for_a_worker(
        self, nc: NATS, group: str, follower: Follower, calls: RunCallbacks
    ) -> None:
        """While no worker took the run: say so when none of the group is online, and
        raise NoOnlineWorker once that lasted `worker_wait` seconds."""
        alone_since: float | None = None
        wait = _duration(self._worker_wait)
        while not follower.started:
            online = await self._group_online(nc, group, default=alone_since is None)
            now = time.monotonic()
            if online and alone_since is not None:
                alone_since = None
                calls.on_queued(f"queued for worker group {group}")
            elif not online and alone_since is None:
                alone_since = now
                calls.on_queued(
                    f"queued for worker group {group}: no worker of it is online "
                    f"(fails after {wait} without one)"
                )
            elif not online and alone_since is not None and now - alone_since >= self._worker_wait:
                raise NoOnlineWorker(
                    follower.host_name, f"no worker of group {group} was online for {wait}"
                )
            await asyncio.sleep(PRESENCE_CHECK)

    async def _group_online(self, nc: NATS, group: str, default: bool) -> bool:
        """Whether a worker of `group` is online, looked up at most once per
        PRESENCE_CHECK; `default` when NATS cannot tell (it is away)."""
        async with self._looking.setdefault(group, asyncio.Lock()):
            looked, online = self._online.get(group, (-PRESENCE_CHECK, default))
            if time.monotonic() - looked < PRESENCE_CHECK:
                return online
            try:
                online = bool(await online_workers(nc.jetstream(), group))
            except Exception as exc:  # NATS away: nothing is known of the workers
                log.debug("reading the workers of %s: %s", group, exc)
                return default
            self._online[group] = (time.monotonic(), online)
            return online

    async def _stop(self, nc: NATS, seal: GroupSeal, group: str, order: str) -> None:
        """End the run wherever it is: a worker running it is told to stop, and the
        run's `started` is claimed (same message id as a worker's), so a worker taking
        the order later finds it started already and drops it."""
        claim = Event(STARTED, order, "", error="stopped before any worker started it")
        with contextlib.suppress(Exception):
            body, headers = sealed_headers(
                seal, events_subject(order), f"{order}.started", claim.encode()
            )
            await nc.jetstream().publish(events_subject(order), body, headers=headers, timeout=2)
        subject = control_subject(group)
        body, headers = sealed_headers(seal, subject, order, Stop(order, "stopped").encode())
        with contextlib.suppress(Exception):
            await nc.publish(subject, body, headers=headers)
            await nc.flush(timeout=2)


def _order(job_id: str, host: Host, work: Work, limit: TimeLimit, env: Mapping[str, str]) -> Order:
    assert work.build is not None
    invocation = work.build(host, WORKDIR_PLACEHOLDER if work.needs_workdir else "")
    return Order(
        job_id=job_id,
        host=host.name,
        host_vars=dict(host.vars),
        command=invocation.command,
        env={**invocation.env, **env},
        stdin=b64(invocation.stdin) if invocation.stdin is not None else None,
        uploads=[(name, b64(data), mode) for name, data, mode in invocation.uploads()],
        needs_workdir=work.needs_workdir,
        time_left=limit.left(),
    )


def group_key_from(assets: AssetResolver) -> Callable[[str], str]:
    """Where the engine finds a group's key: the asset `worker-group-<group>`, a
    variable (encrypted, so that the key is never shown)."""

    def key(group: str) -> str:
        asset = assets.resolve(f"{KEY_ASSET_PREFIX}{group}", AssetKind.VARIABLE)
        if "value" not in asset.secret_fields:
            raise ConfigError(
                f"asset {asset.name} must be encrypted: "
                f"opsconsole assets set-variable --encrypted {asset.name} KEY"
            )
        return str(asset.values["value"])

    return key


def _duration(seconds: float) -> str:
    """ "10m", "90s", "1h30m": how long, as people write it."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"
