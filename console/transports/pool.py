"""One SSH connection per host, shared by every command and job that needs it.

Opening an SSH connection costs a TCP handshake, a key exchange and authentication
(CPU-bound on both ends); running a command on an open one costs a channel. So the
pool keeps each host's connection open while it is used and for `idle_timeout`
seconds after, with keepalives to notice a dead peer.

Two separate limits (the Mitogen lesson): `max_connects` bounds connection set-ups in
flight (handshakes saturate a small machine's CPU long before sockets run out), and
`max_commands` (`forks`) bounds commands in flight. A host that never answers holds a
set-up slot only until `connect_timeout`, and never a command slot: a command takes
its slot once its connection is open.

`connect_timeout` is one budget for a whole jump chain: each hop's connect spends from
it, so a chain of any length is bounded by it (not by one timeout per hop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from console.assets.model import AssetResolver
from console.errors import (
    AuthenticationFailed,
    ConfigError,
    HostConfigError,
    HostError,
    HostKeyUnknown,
    TimedOut,
    Unreachable,
)
from console.inventory.jumps import describe_loop, direct_jump
from console.inventory.model import Host
from console.ssh_library import asyncssh
from console.transports.hostkeys import POLICIES, HostKeyChecker, default_known_hosts
from console.transports.login import login_for
from console.transports.ssh_options import SSHOptions, auth_hint, extra_known_hosts

# A handshake costs a few milliseconds of CPU, so 128 at once end well within the
# connect timeout even on 2 cores (bench/fanout), while thousands at once would not.
DEFAULT_MAX_CONNECTS = 128
DEFAULT_MAX_COMMANDS = 128
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_KEEPALIVE = 15.0


@dataclass
class PoolStats:
    """Counters a user (or a test) can read to see the reuse working."""

    connects: int = 0
    reuses: int = 0
    failures: int = 0
    closed_idle: int = 0


@dataclass
class _Entry:
    """A pooled connection; `jump` is the entry it tunnels through, kept open for it."""

    key: str
    conn: asyncssh.SSHClientConnection
    jump: _Entry | None = None
    users: int = 0
    idle_handle: asyncio.TimerHandle | None = None


@dataclass
class _Budget:
    """Connect time left for one jump chain; every hop's connect spends from it."""

    left: float


class _Client(asyncssh.SSHClient):
    """Routes asyncssh's host key question to our checker, and tells the pool when
    the connection drops so the next command reconnects."""

    def __init__(
        self,
        checker: HostKeyChecker | None,
        on_lost: Callable[[asyncssh.SSHClientConnection], None],
    ) -> None:
        self._checker = checker
        self._on_lost = on_lost
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self._checker is not None and self._checker.validate(host, port, key)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._on_lost(self._conn)


@dataclass
class TransportPool:
    """The shared SSH connections of one engine (or one CLI run).

    `known_hosts` is the user's file (checked, and where accept-new records keys);
    `ssh_config` lists ssh_config files (default `~/.ssh/config` when readable; `[]`
    for none); `resolve_host` maps a `console_jump_host` name to an inventory host;
    `assets` gives the credentials hosts log in with (`console.transports.login`);
    `local_workdirs` is where `local` hosts' runs make their work folders (None: the
    system's temporary folder).
    """

    forks: int | None = None
    max_connects: int = DEFAULT_MAX_CONNECTS
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    keepalive_interval: float = DEFAULT_KEEPALIVE
    known_hosts: Path = field(default_factory=default_known_hosts)
    ssh_config: Sequence[Path] | None = None
    client_keys: Sequence[Path] | None = None
    resolve_host: Callable[[str], Host | None] | None = None
    assets: AssetResolver | None = None
    local_workdirs: Path | None = None
    stats: PoolStats = field(default_factory=PoolStats)

    def __post_init__(self) -> None:
        if self.forks is not None and self.forks < 1:
            raise ConfigError(f"forks must be at least 1, not {self.forks}")
        self._connect_slots = asyncio.Semaphore(self.max_connects)
        self._command_slots = asyncio.Semaphore(self.forks or DEFAULT_MAX_COMMANDS)
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, asyncio.Task[_Entry]] = {}
        self._ssh_options = SSHOptions(self.keepalive_interval, self.ssh_config, self.client_keys)

    @contextlib.asynccontextmanager
    async def command_slot(self) -> AsyncIterator[None]:
        """Held for the duration of one command (the `forks` limit)."""
        async with self._command_slots:
            yield

    @contextlib.asynccontextmanager
    async def connection(
        self, host: Host, timeout: float | None = None
    ) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """The host's open connection (opened on first use), held while in the block.

        `timeout` (a run's own time limit) bounds getting it, on top of the connect
        timeout: an abandoned connect goes on in the background, bounded by the latter."""
        try:
            async with asyncio.timeout(timeout):
                entry = await self._acquire(host)
        except TimeoutError:
            if timeout is None:
                raise
            raise TimedOut(
                host.name, f"not connected within the {timeout:g} s time limit"
            ) from None
        try:
            yield entry.conn
        finally:
            self._release(entry)

    def discard(self, host: Host) -> None:
        """Forget (and close) a host's connection after it failed mid-command."""
        entry = self._entries.get(self._key(host))
        if entry is not None:
            self._drop(entry)

    async def _acquire(
        self, host: Host, budget: _Budget | None = None, chain: tuple[str, ...] = ()
    ) -> _Entry:
        """`chain` lists the hosts this one is a jump for: meeting one again is a loop
        (the inventory refuses those at load; this guards hosts built elsewhere)."""
        key = self._key(host)
        if key in chain:
            names = [k.split("|", 1)[0] for k in (*chain, key)]
            raise ConfigError(f"{names[0]}: {describe_loop(names)}")
        entry = self._entries.get(key)
        if entry is not None and not entry.conn.is_closed():
            self.stats.reuses += 1
        else:
            budget = budget or _Budget(self.connect_timeout)
            entry = await self._open_shared(key, host, budget, (*chain, key))
        entry.users += 1
        if entry.idle_handle is not None:
            entry.idle_handle.cancel()
            entry.idle_handle = None
        return entry

    def _release(self, entry: _Entry) -> None:
        entry.users -= 1
        self._idle_later(entry)

    def _idle_later(self, entry: _Entry) -> None:
        """Close the connection `idle_timeout` seconds from now unless it is used again."""
        if entry.users == 0 and self._entries.get(entry.key) is entry:
            loop = asyncio.get_running_loop()
            entry.idle_handle = loop.call_later(self.idle_timeout, self._expire, entry)

    def _drop(self, entry: _Entry) -> None:
        """Remove an entry, close its connection and let go of its jump host."""
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        if entry.idle_handle is not None:
            entry.idle_handle.cancel()
        entry.conn.close()
        if entry.jump is not None:
            jump, entry.jump = entry.jump, None
            self._release(jump)

    @property
    def ssh_config_parses(self) -> int:
        """Parses of ssh_config shared by the hosts it treats alike (one per group)."""
        return self._ssh_options.config_parses

    @property
    def open_connections(self) -> int:
        return sum(1 for e in self._entries.values() if not e.conn.is_closed())

    async def close(self) -> None:
        """Close every connection (call once at the end of a CLI run or engine)."""
        for task in list(self._pending.values()):
            task.cancel()
        entries = list(self._entries.values())
        for entry in entries:
            self._drop(entry)
        for entry in entries:
            with contextlib.suppress(Exception):
                await entry.conn.wait_closed()

    def _expire(self, entry: _Entry) -> None:
        if entry.users == 0 and self._entries.get(entry.key) is entry:
            self.stats.closed_idle += 1
            self._drop(entry)

    def _key(self, host: Host) -> str:
        v = host.vars
        return "|".join(
            str(x)
            for x in (
                host.name,
                host.address,
                v.get("ansible_port"),
                host.user,
                host.private_key_file,
                host.jump_host,
                host.host_key_policy,
                host.credential,
            )
        )

    async def _open_shared(
        self, key: str, host: Host, budget: _Budget, chain: tuple[str, ...]
    ) -> _Entry:
        """Open the connection once even when many commands ask for it at once (the
        later ones wait on the first one's connect, which its budget bounds)."""
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._open(key, host, budget, chain))
            self._pending[key] = task
            task.add_done_callback(lambda _t: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _open(self, key: str, host: Host, budget: _Budget, chain: tuple[str, ...]) -> _Entry:
        jump = direct_jump(host, self.resolve_host)
        jump_entry = None
        if jump is not None:
            try:
                jump_entry = await self._acquire(jump, budget, chain)
            except HostError as exc:
                raise type(exc)(host.name, f"via jump host {jump.name}: {exc.detail}") from exc
        try:
            async with self._connect_slots:
                conn = await self._connect_within(host, jump_entry, budget)
        except BaseException:
            self.stats.failures += 1
            if jump_entry is not None:
                self._release(jump_entry)
            raise
        self.stats.connects += 1
        entry = _Entry(key, conn, jump=jump_entry)
        self._entries[key] = entry
        self._idle_later(entry)  # closed in time even if every waiter gave up meanwhile
        return entry

    async def _connect_within(
        self, host: Host, jump: _Entry | None, budget: _Budget
    ) -> asyncssh.SSHClientConnection:
        """One hop's connect, given what is left of the chain's connect budget."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            if budget.left <= 0:
                raise TimeoutError
            async with asyncio.timeout(budget.left):
                return await self._connect(host, jump.conn if jump else None, budget.left)
        except TimeoutError as exc:
            raise Unreachable(
                host.name,
                f"no SSH answer from {host.address} within {self.connect_timeout:g} s "
                "(host down, firewalled, or wrong address/port?)",
            ) from exc
        finally:
            budget.left -= loop.time() - started

    async def _connect(
        self, host: Host, tunnel: asyncssh.SSHClientConnection | None, timeout: float
    ) -> asyncssh.SSHClientConnection:
        policy = host.host_key_policy
        if policy not in POLICIES:
            raise HostConfigError(
                host.name,
                f"console_host_key_policy must be one of {', '.join(POLICIES)}, not {policy!r}",
            )
        checker = None
        if policy != "off":
            checker = HostKeyChecker(host.name, policy, self.known_hosts, extra_known_hosts(host))
        login = login_for(host, self.assets)
        try:
            options = await self._ssh_options.for_host(host, checker, tunnel, login)
            return await asyncssh.connect(
                host.address,
                client_factory=lambda: _Client(checker, self._lost),
                connect_timeout=timeout,
                **options,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            if checker is not None and checker.problem is not None:
                raise checker.problem from exc
            raise HostKeyUnknown(host.name, f"host key not accepted: {exc.reason}") from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthenticationFailed(host.name, auth_hint(host, login)) from exc
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise AuthenticationFailed(host.name, f"cannot use private key: {exc}") from exc
        except TimeoutError:
            raise  # worded once, with the chain's budget, by _connect_within
        except asyncssh.Error as exc:
            raise Unreachable(host.name, f"SSH connection failed: {exc.reason}") from exc
        except OSError as exc:
            raise Unreachable(
                host.name, f"cannot connect to {host.address}: {exc.strerror or exc}"
            ) from exc

    def _lost(self, conn: asyncssh.SSHClientConnection) -> None:
        """A connection dropped (peer gone, keepalive failed): the next use reconnects."""
        for entry in list(self._entries.values()):
            if entry.conn is conn:
                self._drop(entry)
