"""Build an `Inventory` from Ansible's YAML inventory or `ansible-inventory --list` JSON.

The rules are Ansible's (`yaml` and `script` inventory plugins, `InventoryData`):
top-level keys are groups; a group has `hosts`, `vars` and `children`; host keys may be
ranges or carry `:port`; a host met several times accumulates its variables in file
order; every group without a parent becomes a child of `all`; hosts in no group land in
`ungrouped`. Variables merge as Ansible merges them: `all`, then the other groups sorted
by (depth, ansible_group_priority, name), then the host's own variables.

opsconsole is stricter than Ansible where Ansible only warns: unknown keys in a group,
duplicate keys, bad ranges and unusable connection settings are errors, so a typo can
never silently drop hosts. Nothing is partially loaded: the first error stops loading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ConfigError, InventoryError
from console.inventory.addresses import parse_address
from console.inventory.jumps import describe_loop, jump_loop
from console.inventory.model import (
    CONNECTIONS,
    HOST_KEY_POLICIES,
    SSH_ALIASES,
    Group,
    Host,
    Inventory,
)
from console.inventory.ranges import RangeError, expand_range
from console.inventory.yamlload import LineDict, load_yaml

GROUP_SECTIONS = ("hosts", "vars", "children")
PRIORITY_VAR = "ansible_group_priority"
# The variables that can set a jump host; their lines are kept to point at a loop.
JUMP_VARS = ("console_jump_host", "ansible_ssh_common_args")


@dataclass
class _Draft:
    """A group while the file is being read; frozen into a `Group` at the end."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    priority: int = 1


class _Builder:
    """Ansible's InventoryData, reduced to what a static inventory needs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, _Draft] = {}
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.host_groups: dict[str, list[str]] = {}
        self.jump_lines: dict[tuple[str, str, str], int] = {}  # (group|host, name, var)
        self.add_group("all", 0)
        self.add_group("ungrouped", 0)
        self.add_child("all", "ungrouped", 0)

    def error(self, line: int | None, problem: str) -> InventoryError:
        return InventoryError(self.path, line, problem)

    def add_group(self, name: Any, line: int) -> str:
        if not isinstance(name, str) or not name:
            raise self.error(line, f"group name {name!r} must be a non-empty string")
        self.groups.setdefault(name, _Draft(name))
        return name

    def add_host(self, name: str, group: str | None, port: int | None) -> None:
        if name not in self.host_vars:
            self.host_vars[name] = {"ansible_port": port} if port else {}
            self.host_groups[name] = []
        if group is not None and name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
            self.host_groups[name].append(group)

    def add_child(self, parent: str, child: str, line: int) -> None:
        if child == parent or child in self.ancestors(parent):
            raise self.error(line, f"group {child!r} under {parent!r} creates a loop of groups")
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
        if parent not in self.groups[child].parents:
            self.groups[child].parents.append(parent)

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        todo = list(self.groups[name].parents)
        while todo:
            group = todo.pop()
            if group not in found:
                found.add(group)
                todo.extend(self.groups[group].parents)
        return found

    def set_group_var(self, group: str, key: str, value: Any, line: int) -> None:
        check_variable(self, key, value, line)
        if key == PRIORITY_VAR:
            try:
                self.groups[group].priority = int(value)
            except (TypeError, ValueError):
                raise self.error(line, f"{PRIORITY_VAR} must be an integer") from None
        else:
            self.groups[group].vars[key] = value
            if key in JUMP_VARS:
                self.jump_lines["group", group, key] = line

    def set_host_var(self, host: str, key: Any, value: Any, line: int) -> None:
        if not isinstance(key, str):
            raise self.error(line, f"variable name {key!r} of host {host!r} must be a string")
        check_variable(self, key, value, line)
        self.host_vars[host][key] = value
        if key in JUMP_VARS:
            self.jump_lines["host", host, key] = line

    def finish(self, path: Path) -> Inventory:
        """Ansible's reconcile step, depths, merged variables; returns the Inventory."""
        for name, draft in self.groups.items():
            if name != "all" and not draft.parents:
                self.add_child("all", name, 0)
        ungrouped = self.groups["ungrouped"]
        for host, direct in self.host_groups.items():
            memberships = set(direct)
            for group in direct:
                memberships |= self.ancestors(group)
            if "ungrouped" in memberships:
                if memberships - {"all", "ungrouped"} and host in ungrouped.hosts:
                    ungrouped.hosts.remove(host)
                    direct.remove("ungrouped")
            elif not memberships - {"all"}:
                ungrouped.hosts.append(host)
                direct.append("ungrouped")
        depths = self._depths()
        groups = {
            name: Group(
                name=name,
                vars=d.vars,
                hosts=tuple(d.hosts),
                children=tuple(d.children),
                parents=tuple(d.parents),
                depth=depths[name],
                priority=d.priority,
            )
            for name, d in self.groups.items()
        }
        inventory = Inventory(path, self._hosts(groups), groups)
        self._check_jumps(inventory)
        return inventory

    def _check_jumps(self, inventory: Inventory) -> None:
        """Refuse a jump chain that loops: it could never connect (it used to hang)."""
        for host in inventory.hosts.values():
            try:
                loop = jump_loop(host, inventory.hosts.get)
            except ConfigError as exc:
                raise self.error(self._jump_line(host.name, inventory), str(exc)) from None
            if loop is not None:
                raise self.error(
                    self._jump_line(host.name, inventory),
                    f"host {host.name!r}: {describe_loop(loop)}",
                )

    def _jump_line(self, name: str, inventory: Inventory) -> int | None:
        """Where the host's jump comes from: its own variable, else the group that wins."""
        host = inventory.hosts[name]
        var = "console_jump_host" if "console_jump_host" in host.vars else "ansible_ssh_common_args"
        own = self.jump_lines.get(("host", name, var))
        if own is not None:
            return own
        groups = inventory.groups
        ranked = sorted(
            (g for g in (*host.groups, "all") if var in groups[g].vars),
            key=lambda g: (groups[g].depth, groups[g].priority, g),
        )
        return self.jump_lines.get(("group", ranked[-1], var)) if ranked else None

    def _depths(self) -> dict[str, int]:
        """Longest path from `all`, which is what Ansible's incremental depth ends at."""
        depths = {"all": 0}
        order = self._topological()
        for name in order:
            for child in self.groups[name].children:
                depths[child] = max(depths.get(child, 0), depths.get(name, 0) + 1)
        return depths

    def _topological(self) -> list[str]:
        pending = {name: len(d.parents) for name, d in self.groups.items()}
        ready = [name for name, count in pending.items() if count == 0]
        order: list[str] = []
        while ready:
            name = ready.pop()
            order.append(name)
            for child in self.groups[name].children:
                pending[child] -= 1
                if pending[child] == 0:
                    ready.append(child)
        return order

    def _hosts(self, groups: Mapping[str, Group]) -> dict[str, Host]:
        merged_by_groups: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]] = {}
        hosts: dict[str, Host] = {}
        for name, own in self.host_vars.items():
            direct = tuple(self.host_groups[name])
            cached = merged_by_groups.get(direct)
            if cached is None:
                cached = self._group_vars(direct, groups)
                merged_by_groups[direct] = cached
            names, group_vars = cached
            hosts[name] = Host(name, {**group_vars, **own}, names, frozenset(own))
        return hosts

    def _group_vars(
        self, direct: tuple[str, ...], groups: Mapping[str, Group]
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        member: set[str] = set(direct)
        for group in direct:
            member |= self.ancestors(group)
        member.discard("all")
        merged = dict(groups["all"].vars)
        ranked = sorted(member, key=lambda g: (groups[g].depth, groups[g].priority, g))
        for group in ranked:
            merged.update(groups[group].vars)
        return tuple(sorted(member)), merged


def check_variable(builder: _Builder, key: str, value: Any, line: int) -> None:
    """Refuse values opsconsole cannot act on, at the line where they are written."""
    if key == "ansible_connection":
        if value not in CONNECTIONS + SSH_ALIASES:
            raise builder.error(
                line,
                f"ansible_connection: unknown connection type {value!r} (use ssh, winrm or local)",
            )
    elif key == "console_host_key_policy":
        if value not in HOST_KEY_POLICIES:
            raise builder.error(
                line,
                f"console_host_key_policy: unknown policy {value!r} "
                "(use strict, accept-new or off)",
            )
    elif key in ("ansible_port", "ansible_ssh_port"):
        if isinstance(value, bool) or not str(value).isdigit() or not 0 < int(value) < 65536:
            raise builder.error(line, f"{key}: {value!r} is not a port number (1-65535)")
    elif key == "console_tags":
        scalar = (str, int, float)
        if not isinstance(value, str) and not (
            isinstance(value, list) and all(isinstance(t, scalar) for t in value)
        ):
            raise builder.error(line, "console_tags must be a list or a comma-separated string")


# --------------------------------------------------------------- Ansible YAML format


def _read_yaml_inventory(builder: _Builder, data: LineDict) -> None:
    for name, body in data.items():
        _read_group(builder, name, body, data.line_of(name))


def _read_group(builder: _Builder, name: Any, body: Any, line: int) -> str:
    group = builder.add_group(name, line)
    if body is None:
        return group
    if not isinstance(body, LineDict):
        raise builder.error(line, f"group {group!r} must be a mapping with hosts, vars or children")
    for key, value in body.items():
        key_line = body.line_of(key)
        if key not in GROUP_SECTIONS:
            raise builder.error(
                key_line,
                f"unknown key {key!r} in group {group!r} "
                "(only hosts, vars and children are allowed; a host needs to be under hosts:)",
            )
        if isinstance(value, str):
            value = {value: None}  # Ansible accepts `hosts: web01` for a single entry
        if value is None:
            continue
        if not isinstance(value, dict):
            raise builder.error(
                key_line,
                f"{key!r} of group {group!r} must be a mapping, "
                f"not a {type(value).__name__} (end each entry with a colon)",
            )
        if key == "vars":
            for var, var_value in value.items():
                builder.set_group_var(group, var, var_value, _line(value, var, key_line))
        elif key == "children":
            for child, child_body in value.items():
                child_line = _line(value, child, key_line)
                child = _read_group(builder, child, child_body, child_line)
                builder.add_child(group, child, child_line)
        else:
            for pattern, host_body in value.items():
                entry_line = _line(value, pattern, key_line)
                _read_host_entry(builder, group, pattern, host_body, entry_line)
    return group


def _line(mapping: dict[Any, Any], key: Any, default: int) -> int:
    return mapping.line_of(key) if isinstance(mapping, LineDict) else default


def _read_host_entry(builder: _Builder, group: str, pattern: Any, body: Any, line: int) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise builder.error(line, f"host name {pattern!r} must be a string (quote numbers)")
    if body is not None and not isinstance(body, dict):
        raise builder.error(
            line,
            f"host {pattern!r} must be followed by a mapping of variables or nothing, "
            f"not a {type(body).__name__}",
        )
    address = parse_address(pattern)
    name, port = address if address else (pattern, None)
    try:
        names = expand_range(name)
    except RangeError as exc:
        raise builder.error(line, f"host {pattern!r}: {exc}") from None
    for host in names:
        builder.add_host(host, group, port)
        for var, value in (body or {}).items():
            builder.set_host_var(host, var, value, _line(body or {}, var, line))


# ------------------------------------------------- ansible-inventory --list JSON format


def is_list_format(data: Mapping[Any, Any], path: Path) -> bool:
    """`_meta` marks `ansible-inventory --list` output; a .json file with host lists too."""
    if "_meta" in data:
        return True
    if path.suffix.lower() != ".json":
        return False
    return any(
        isinstance(body, list)
        or (isinstance(body, dict) and any(isinstance(body.get(k), list) for k in GROUP_SECTIONS))
        for body in data.values()
    )


def _read_list_inventory(builder: _Builder, data: LineDict) -> None:
    meta = data.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise builder.error(data.line_of("_meta"), "_meta.hostvars must be a mapping")
    for name, body in data.items():
        if name != "_meta":
            _read_list_group(builder, name, body, data.line_of(name))
    for host in list(builder.host_vars):
        values = hostvars.get(host) or {}
        if not isinstance(values, dict):
            raise builder.error(_line(hostvars, host, 0), f"hostvars of {host!r} must be a mapping")
        for var, value in values.items():
            builder.set_host_var(host, var, value, _line(values, var, 0))


def _read_list_group(builder: _Builder, name: Any, body: Any, line: int) -> None:
    group = builder.add_group(name, line)
    if not isinstance(body, dict):
        body = {"hosts": body}
    elif not any(key in body for key in GROUP_SECTIONS):
        body = {"hosts": [group], "vars": body}  # Ansible's shorthand: a host with vars
    hosts, variables = body.get("hosts", []), body.get("vars", {})
    children = body.get("children", [])
    for key, value, kind in (
        ("hosts", hosts, list),
        ("children", children, list),
        ("vars", variables, dict),
    ):
        if not isinstance(value, kind):
            raise builder.error(
                _line(body, key, line), f"{key!r} of group {group!r} must be a {kind.__name__}"
            )
    for host in hosts:
        if not isinstance(host, str) or not host:
            raise builder.error(_line(body, "hosts", line), f"host name {host!r} must be a string")
        builder.add_host(host, group, None)
    for var, value in variables.items():
        builder.set_group_var(group, var, value, _line(variables, var, line))
    for child in children:
        child = builder.add_group(child, _line(body, "children", line))
        builder.add_child(group, child, _line(body, "children", line))


# ------------------------------------------------------------------------ entry point


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file; raise InventoryError naming file and line.

    JSON (what `ansible-inventory --list` prints, often large) is read with the json
    module, which is many times faster than PyYAML; if it is invalid in any way it is
    read again with the YAML loader, whose marks give the error its line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(str(path), None, f"cannot read inventory: {exc}") from None
    if text.lstrip().startswith("{"):
        try:
            return _build(path, json.loads(text, object_pairs_hook=_json_mapping))
        except (ValueError, InventoryError):
            pass  # reported below, with a line number
    return _build(path, load_yaml(str(path), text))


def _json_mapping(pairs: list[tuple[str, Any]]) -> LineDict:
    mapping = LineDict()
    for key, value in pairs:
        if key in mapping:
            raise ValueError(f"duplicate key {key!r}")
        mapping[key] = value
    return mapping


def _build(path: Path, data: Any) -> Inventory:
    builder = _Builder(str(path))
    if data is None:
        raise builder.error(None, "the inventory is empty (start it with 'all:')")
    if not isinstance(data, LineDict):
        raise builder.error(1, "the inventory must be a mapping of groups (start it with 'all:')")
    if data.get("plugin") is not None and "_meta" not in data:
        raise builder.error(data.line_of("plugin"), "inventory plugin files are not supported")
    if is_list_format(data, path):
        _read_list_inventory(builder, data)
    else:
        _read_yaml_inventory(builder, data)
    return builder.finish(path)
