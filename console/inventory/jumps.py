"""Jump host chains: what each hop is, and refusing chains that loop.

A host's jump setting (`console_jump_host`, else `-J` / `-o ProxyJump=` in
`ansible_ssh_common_args`) is a comma-separated list of hops, as OpenSSH's `-J`
reads it: the first hop is reached first, the target through the last. A hop is an
inventory host name (which brings that host's variables, its own jump included) or
`[user@]host[:port]`, where `host` may again name an inventory host.

As with `ssh -J`, a `[user@]host[:port]` hop that is not in the inventory is reached
directly (or through the hops before it): the target's own ProxyJump is *not* applied
to it again. Applying it made `-o ProxyJump=ops@bastion` in group vars a jump through
itself, and the connect waited on itself forever.

A chain that reaches a host twice (by inventory name, or by the same address and
port) can never connect; `jump_loop` finds it so that loading the inventory refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from console.errors import ConfigError
from console.inventory.model import Host

Resolve = Callable[[str], Host | None]

_HOP = re.compile(r"(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:@]+)(?::(?P<port>\d+))?\Z")
# What a hop written as user@host[:port] keeps of the target's settings: how to log in
# and how to check host keys, never how to get there.
_INHERITED = (
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "console_host_key_policy",
    "console_known_hosts_file",
)


def hops_of(host: Host) -> list[str]:
    """The host's jump hops in connection order; [] for a direct connection."""
    return [hop.strip() for hop in (host.jump_host or "").split(",") if hop.strip()]


def direct_jump(host: Host, resolve: Resolve | None) -> Host | None:
    """The host to tunnel through to reach `host` (the last hop), with the hops before
    it as its own jump; None when `host` is reached directly."""
    hops = hops_of(host)
    if not hops:
        return None
    before = ",".join(hops[:-1])
    return _hop_host(hops[-1], host, resolve, before)


def _hop_host(spec: str, target: Host, resolve: Resolve | None, before: str) -> Host:
    found = resolve(spec) if resolve is not None else None
    if found is not None:
        return _via(found, before) if before else found
    match = _HOP.match(spec)
    if match is None:
        raise ConfigError(
            f"{target.name}: jump host {spec!r} is neither an inventory host nor user@host[:port]"
        )
    address = match["host"].strip("[]")
    named = resolve(address) if resolve is not None else None
    if named is not None:  # `ops@bastion` where bastion is an inventory host
        values = dict(named.vars)
        name = named.name if not (match["user"] or match["port"]) else spec
    else:
        values = {k: v for k, v in target.vars.items() if k in _INHERITED}
        values.setdefault("console_host_key_policy", target.host_key_policy)
        if target.known_hosts_file:
            values.setdefault("console_known_hosts_file", target.known_hosts_file)
        values["ansible_host"] = address
        values["console_jump_host"] = ""  # reached directly: never the target's jump
        name = spec
    if match["user"]:
        values["ansible_user"] = match["user"]
    if match["port"]:
        values["ansible_port"] = int(match["port"])
    own = named.own_vars if named is not None else frozenset()
    if match["user"]:
        own |= {"ansible_user"}
    hop = Host(name, values, named.groups if named is not None else (), own)
    return _via(hop, before) if before else hop


def _via(host: Host, before: str) -> Host:
    """`host` reached through the hops `before` (a chain's earlier hops)."""
    values = {**host.vars, "console_jump_host": before}
    return Host(host.name, values, host.groups, host.own_vars)


def jump_loop(host: Host, resolve: Resolve | None) -> list[str] | None:
    """The hosts of a jump chain that comes back to a host already on it (ending with
    the repeated one), or None when the chain ends. Hosts are the same when they have
    the same inventory name or the same address and port."""
    seen: list[tuple[str, tuple[str, int]]] = []
    path: list[str] = []
    current: Host | None = host
    while current is not None:
        endpoint = (current.address.lower(), current.port)
        path.append(current.name)
        if any(current.name == name or endpoint == ep for name, ep in seen):
            return path
        seen.append((current.name, endpoint))
        current = direct_jump(current, resolve)
    return None


def describe_loop(path: list[str]) -> str:
    return "jump chain loops: " + " -> ".join(path) + " (each host is reached through the next)"
