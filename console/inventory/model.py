"""The inventory's domain objects: hosts with merged variables, groups, the inventory.

Variable names follow Ansible (`ansible_host`, `ansible_port`, ...) so the same file
works with Ansible; opsconsole's own settings use the `console_` prefix.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.inventory.patterns import LOCALHOST_NAMES, Term, parse_pattern
from console.inventory.sshargs import parse_ssh_args

CONNECTIONS = ("ssh", "winrm", "local")
# Ansible's historic names for its SSH connection plugins, all treated as ssh.
SSH_ALIASES = ("smart", "paramiko", "paramiko_ssh")
HOST_KEY_POLICIES = ("strict", "accept-new", "off")
# WinRM: 5986 (HTTPS) unless `ansible_winrm_scheme: http` says 5985, as in Ansible.
DEFAULT_PORTS = {"ssh": 22, "winrm": 5986, "local": 0}
WINRM_HTTP_PORT = 5985
BECOME_METHODS = ("sudo",)
_TRUE = frozenset({"true", "yes", "on", "1", "y"})


@dataclass(frozen=True)
class Host:
    """One machine. `vars` are the merged variables, exactly as Ansible merges them.

    `groups` is Ansible's `group_names`: every group the host belongs to, directly or
    through a parent, sorted, without `all`.
    """

    name: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    # The names of the vars written on the host itself (not inherited from a group):
    # a host-level `ansible_user` must agree with the host's credential, a group's
    # yields to it.
    own_vars: frozenset[str] = frozenset()

    @property
    def connection(self) -> str:
        value = str(self.vars.get("ansible_connection", "ssh"))
        return "ssh" if value in SSH_ALIASES else value

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host", self.vars.get("ansible_ssh_host", self.name)))

    @property
    def port(self) -> int:
        port = self.vars.get("ansible_port", self.vars.get("ansible_ssh_port"))
        if port is not None:
            return int(port)
        if self.connection == "winrm" and self.winrm_scheme == "http":
            return WINRM_HTTP_PORT
        return DEFAULT_PORTS.get(self.connection, 22)

    @property
    def winrm_scheme(self) -> str:
        """`ansible_winrm_scheme`; by default https, or http when the port is 5985
        (Ansible's rule)."""
        scheme = self.vars.get("ansible_winrm_scheme")
        if scheme:
            return str(scheme).lower()
        port = self.vars.get("ansible_port")
        return "http" if port is not None and int(port) == WINRM_HTTP_PORT else "https"

    @property
    def user(self) -> str | None:
        user = self.vars.get("ansible_user", self.vars.get("ansible_ssh_user"))
        return str(user) if user is not None else None

    @property
    def private_key_file(self) -> str | None:
        key = self.vars.get(
            "ansible_ssh_private_key_file", self.vars.get("ansible_private_key_file")
        )
        return str(key) if key is not None else None

    @property
    def credential(self) -> str | None:
        """`console_credential`: the credential asset the host logs in with."""
        name = self.vars.get("console_credential")
        return str(name) if name else None

    @property
    def user_set_on_host(self) -> str | None:
        """The login user when written on the host itself, else None."""
        own = self.own_vars & {"ansible_user", "ansible_ssh_user"}
        return self.user if own else None

    @property
    def become(self) -> bool:
        """`ansible_become`, read as Ansible reads booleans (true/yes/on/1)."""
        value = self.vars.get("ansible_become", False)
        return value is True or str(value).strip().lower() in _TRUE

    @property
    def become_user(self) -> str:
        return str(self.vars.get("ansible_become_user") or "root")

    @property
    def become_method(self) -> str:
        return str(self.vars.get("ansible_become_method") or "sudo")

    @property
    def become_credential(self) -> str | None:
        """`console_become_credential`: the credential whose password sudo gets."""
        name = self.vars.get("console_become_credential")
        return str(name) if name else None

    @cached_property
    def ssh_options(self) -> Mapping[str, str]:
        """What `ansible_ssh_common_args` says about jump host, host keys, known hosts."""
        args = self.vars.get("ansible_ssh_common_args")
        return parse_ssh_args(args) if isinstance(args, str) else {}

    @property
    def host_key_policy(self) -> str:
        """`strict` (default), `accept-new` or `off`; console_host_key_policy wins."""
        policy = self.vars.get("console_host_key_policy")
        if policy is None:
            return self.ssh_options.get("host_key_policy", "strict")
        return str(policy)

    @property
    def worker_group(self) -> str | None:
        """`console_worker_group`: the worker group that runs this host's runs (checked
        when a run is handed over, console.workers.protocol); None: the engine does."""
        value = self.vars.get("console_worker_group")
        return str(value) if value else None

    @property
    def relaxed_checks(self) -> tuple[str, ...]:
        """The checks of this host's identity or link that the inventory turned off or
        weakened, each naming the variable that did it (the host detail shows them, so
        an opt-out is never silent). Empty when every check is on."""
        found: list[str] = []
        if self.connection == "ssh" and self.host_key_policy != "strict":
            policy = self.host_key_policy
            found.append(f"SSH host key not checked strictly (host key policy {policy})")
        if self.connection == "winrm":
            validation = str(self.vars.get("ansible_winrm_server_cert_validation") or "validate")
            if self.winrm_scheme == "http":
                found.append("WinRM over plain HTTP (ansible_winrm_scheme: http)")
            elif validation.lower() == "ignore":
                found.append(
                    "TLS certificate NOT validated (ansible_winrm_server_cert_validation: ignore)"
                )
        return tuple(found)

    @property
    def jump_host(self) -> str | None:
        jump = self.vars.get("console_jump_host")
        if jump is None:
            return self.ssh_options.get("jump_host")
        return str(jump)

    @property
    def known_hosts_file(self) -> str | None:
        """A known-hosts path from `-o UserKnownHostsFile=`, else None (the default)."""
        return self.ssh_options.get("known_hosts_file")

    @property
    def tags(self) -> tuple[str, ...]:
        tags = self.vars.get("console_tags", ())
        if isinstance(tags, str):
            return tuple(t.strip() for t in tags.split(",") if t.strip())
        return tuple(str(t) for t in tags)


@dataclass(frozen=True)
class Group:
    """One group as written in the inventory: its own vars, direct hosts and children.

    `depth` is the longest path from `all` and `priority` is `ansible_group_priority`;
    both decide which group's variable wins, as in Ansible.
    """

    name: str
    vars: Mapping[str, Any]
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    parents: tuple[str, ...]
    depth: int
    priority: int


class Inventory:
    """A loaded inventory. Immutable once built; `load_inventory` is the way to get one."""

    def __init__(self, path: Path, hosts: dict[str, Host], groups: dict[str, Group]) -> None:
        self.path = path
        self.hosts = hosts
        self.groups = groups
        self._group_hosts: dict[str, list[str]] = {}

    def get(self, name: str) -> Host:
        """The host called `name`; a UsageError naming the inventory when there is none."""
        try:
            return self.hosts[name]
        except KeyError:
            raise UsageError(f"no host {name!r} in inventory {self.path}") from None

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible target pattern (plus `tag=value`), in Ansible order
        (`console.inventory.patterns`); UsageError when the pattern cannot be understood."""
        hosts: list[Host] = []
        for term in parse_pattern(pattern):
            if term.text in self.hosts:
                hosts.append(self.hosts[term.text])
                continue
            matched = self._matching(term)
            if term.op == "!":
                excluded = {host.name for host in matched}
                hosts = [host for host in hosts if host.name not in excluded]
            elif term.op == "&":
                kept = {host.name for host in matched}
                hosts = [host for host in hosts if host.name in kept]
            else:
                present = {host.name for host in hosts}
                hosts.extend(host for host in matched if host.name not in present)
        unique: dict[str, Host] = {}
        for host in hosts:
            unique.setdefault(host.name, host)
        return list(unique.values())

    def _matching(self, term: Term) -> list[Host]:
        """The hosts one term names, its subscript applied; may contain duplicates."""
        if term.tag:
            return [
                host
                for host in self.hosts.values()
                if any(fnmatch.fnmatchcase(tag, term.expr) for tag in host.tags)
            ]
        results: list[Host] = []
        groups = [name for name in self.groups if term.regex.match(name)]
        for group in groups:
            results.extend(self.hosts[name] for name in self.group_hosts(group))
        if not groups or term.names_hosts_too:
            results.extend(host for name, host in self.hosts.items() if term.regex.match(name))
        if not results and term.expr in LOCALHOST_NAMES:
            results.append(self._implicit_localhost(term.expr))
        return term.pick(results)

    def _implicit_localhost(self, name: str) -> Host:
        """Ansible's implicit localhost: `all` vars, local connection, in no group."""
        return Host(name, {**self.groups["all"].vars, "ansible_connection": "local"}, ())

    def group_hosts(self, name: str) -> list[str]:
        """Hosts of a group and its descendants in Ansible's order (breadth first)."""
        cached = self._group_hosts.get(name)
        if cached is None:
            cached = self._walk_hosts(name)
            self._group_hosts[name] = cached
        return cached

    def _walk_hosts(self, name: str) -> list[str]:
        ordered = [name, *self.groups[name].children]
        frontier = list(dict.fromkeys(ordered))
        seen: set[str] = set()
        while frontier:
            seen.update(frontier)
            reached: dict[str, None] = {}
            for group in frontier:
                for child in self.groups[group].children:
                    reached[child] = None
                    if child not in seen:
                        ordered.append(child)
            frontier = [child for child in reached if child not in seen]
        hosts: dict[str, None] = {}
        for group in ordered:
            for host in self.groups[group].hosts:
                hosts.setdefault(host, None)
        return list(hosts)
