"""The user's ssh_config, parsed once for every group of hosts it treats alike.

Given config paths, asyncssh parses every file again for every connection (shlex on
every line: about 4 ms of CPU a host with a 100-entry ~/.ssh/config). What a parse
yields depends on the host only through the `Host` blocks whose patterns match its
name, plus the user and port given, unless a file uses `Match` or `Include` (decided
at connect time, or files not scanned here), `CanonicalizeHostname` (a second parse
at connect) or `%` tokens (expanded with the host, port and user). So the files are
scanned once for their `Host` patterns, and hosts that match the same blocks share
one parse: asyncssh's own, kept as the `SSHClientConnectionOptions` each of their
connections starts from (`options=`, a documented argument of `asyncssh.connect`).
Files that use any of the four are parsed per connection, as asyncssh does. A file
that changes (size or mtime) is scanned again, so an edit applies to the next connect
as before.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from console.ssh_library import asyncssh

WildcardPatternList = asyncssh.pattern.WildcardPatternList  # asyncssh's own Host matching

# Keywords whose effect the Host-pattern scan cannot predict (see the module docstring).
_PER_CONNECTION = frozenset({"match", "include", "canonicalizehostname"})

Stamp = tuple[tuple[str, int, int], ...]

# The shared parse is made without keys (None); a connection that starts from it sets
# them back to asyncssh's "not given" (`()`), unless it gives its own, so that it
# loads its keys from the config (or asyncssh's defaults) exactly as alone.
UNSET_KEYS: dict[str, object] = {"client_keys": (), "agent_identities": ()}


@dataclass(frozen=True)
class _Scan:
    """What the files say that decides sharing: each `Host` line's patterns, in file
    order, and whether `%` tokens make every host, port and user a case of its own."""

    host_patterns: tuple[WildcardPatternList, ...]
    tokens: bool


@dataclass
class SSHConfigCache:
    """Parsed ssh_config shared by the connections of one pool.

    `paths`: the ssh_config files (None: `~/.ssh/config` when readable, as asyncssh)."""

    paths: Sequence[Path] | None
    parses: int = 0  # shared parses made (a test reads it to see the sharing)
    _stamp: Stamp | None = field(default=None, init=False)
    _scan: _Scan | None = field(default=None, init=False)
    _shared: dict[Hashable, asyncio.Task[asyncssh.SSHClientConnectionOptions]] = field(
        default_factory=dict, init=False
    )

    async def options(
        self, address: str, port: int | None, user: str | None, common: Mapping[str, object]
    ) -> dict[str, object]:
        """What to give asyncssh.connect for the config: a shared parse (`options`),
        else the paths to parse (`config`), else nothing (asyncssh's default).
        `common`: the options every connection of the pool gives (algorithms), given to
        the shared parse too, so that it checks what the connection would check."""
        files = self._files()
        if not files:
            return {} if self.paths is None else {"config": []}
        self._rescan_if_changed(files)
        if self._scan is None:
            return {"config": [str(p) for p in files]}
        key = self._key(self._scan, address, port, user)
        task = self._shared.get(key)
        if task is None:
            task = asyncio.ensure_future(self._parse(files, address, port, user, common))
            self._shared[key] = task
            task.add_done_callback(functools.partial(self._forget_if_failed, key))
        shared = await asyncio.shield(task)
        if shared.tunnel:  # a ProxyJump from the config: its hops must parse the files too
            return {"config": [str(p) for p in files]}
        return {"options": shared, **UNSET_KEYS}

    def _files(self) -> list[Path]:
        if self.paths is not None:
            return list(self.paths)
        default = Path("~", ".ssh", "config").expanduser()
        return [default] if os.access(default, os.R_OK) else []

    def _rescan_if_changed(self, files: Sequence[Path]) -> None:
        stamp = tuple(_stat(p) for p in files)
        if stamp != self._stamp:
            self._stamp = stamp
            self._scan = _scan(files)
            self._shared.clear()

    @staticmethod
    def _key(scan: _Scan, address: str, port: int | None, user: str | None) -> Hashable:
        """Hosts with equal keys get equal parses. Without tokens the port given only
        matters by being given (its value replaces the config's Port either way)."""
        matched = tuple(patterns.matches(address) for patterns in scan.host_patterns)
        if scan.tokens:
            return matched, address, port, user
        return matched, port is not None, user

    async def _parse(
        self,
        files: Sequence[Path],
        address: str,
        port: int | None,
        user: str | None,
        common: Mapping[str, object],
    ) -> asyncssh.SSHClientConnectionOptions:
        """asyncssh's own parse for this host, off the event loop as asyncssh does it.
        Keys are not loaded here (a connection loads its own, see UNSET_KEYS): an
        IdentityFile of the config that a host does not use must not fail it."""
        self.parses += 1
        given: dict[str, object] = {
            "config": [str(p) for p in files],
            "host": address,
            **common,
            **{name: None for name in UNSET_KEYS},
        }
        if port is not None:
            given["port"] = port
        if user is not None:
            given["username"] = user
        return await asyncssh.SSHClientConnectionOptions.construct(**given)

    def _forget_if_failed(
        self, key: Hashable, task: asyncio.Task[asyncssh.SSHClientConnectionOptions]
    ) -> None:
        """A failed parse is not kept: the next connect tries (and reports) again."""
        failed = task.cancelled() or task.exception() is not None
        if failed and self._shared.get(key) is task:
            del self._shared[key]


def _stat(path: Path) -> tuple[str, int, int]:
    try:
        info = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), info.st_mtime_ns, info.st_size)


def _scan(files: Sequence[Path]) -> _Scan | None:
    """The Host patterns of `files`, or None when they must be parsed per connection
    (a keyword of _PER_CONNECTION, or a file this scan cannot read or split)."""
    patterns: list[WildcardPatternList] = []
    tokens = False
    try:
        for path in files:
            for line in path.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                words = _split(line)
                keyword = words[0].lower()
                if keyword in _PER_CONNECTION:
                    return None
                if keyword == "host":
                    patterns.append(WildcardPatternList(",".join(words[1:])))
                tokens = tokens or "%" in line
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        return None
    return _Scan(tuple(patterns), tokens)


def _split(line: str) -> list[str]:
    """A line's keyword and arguments as asyncssh splits a conditional line (`Host`):
    shlex words, with `=` between or around them taken as a separator."""
    words: list[str] = []
    for word in shlex.split(line):
        if word.startswith("="):
            words += [word[1:]] if len(word) > 1 else []
        elif word.endswith("="):
            words.append(word[:-1])
        elif "=" in word:
            words += word.split("=", 1)
        else:
            words.append(word)
    return words
