"""Convert a Rundeck `resources.yaml` into an Ansible YAML inventory.

Rundeck files are either a mapping of node name → attributes or a list of attribute
maps with `nodename`. Mapping (see reference/peers.md, section d):

- `hostname` (`host` or `host:port`) → `ansible_host` / `ansible_port`
- `username` → `ansible_user`; `ssh-keypath` → `ansible_ssh_private_key_file`
- `osFamily: windows` → `ansible_connection: winrm`
- `tags` (comma string or list) → `console_tags`, and one group per tag, because
  Rundeck users select nodes by tag; tag groups keep the tag's name where it is a valid
  Ansible group name and replace other characters with `_`.
- every other attribute is kept as a host variable of the same name, or as
  `rundeck_<attribute>` when its name is not a valid variable name or would pose as an
  `ansible_`/`console_` setting, so nothing is lost.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from console.errors import InventoryError
from console.inventory.yamlload import LineDict, load_yaml

_MAPPED = {"nodename", "hostname", "username", "tags", "ssh-keypath"}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
_RESERVED_GROUPS = ("all", "ungrouped")


def rundeck_to_ansible(path: str | Path) -> str:
    """The Ansible YAML inventory text for a Rundeck resources file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(str(path), None, f"cannot read Rundeck resources: {exc}") from None
    data = load_yaml(str(path), text)
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for name, node, line in _nodes(str(path), data):
        if name in hosts:
            raise InventoryError(str(path), line, f"node {name!r} is defined twice")
        hosts[name], tags = _convert(str(path), name, node, line)
        for tag in tags:
            group = _NOT_NAME.sub("_", tag)
            if group and group not in _RESERVED_GROUPS:
                groups.setdefault(group, []).append(name)
    inventory: dict[str, Any] = {"all": {"hosts": {n: v or None for n, v in hosts.items()}}}
    if groups:
        inventory["all"]["children"] = {
            group: {"hosts": dict.fromkeys(members)} for group, members in groups.items()
        }
    header = f"# Converted from Rundeck resources {path.name} by opsconsole.\n"
    return header + yaml.dump(inventory, Dumper=_Dumper, sort_keys=False)


def _nodes(path: str, data: Any) -> list[tuple[str, LineDict, int]]:
    """(name, attributes, line) for every node of either file form."""
    if isinstance(data, LineDict):
        entries = [(key, value, data.line_of(key)) for key, value in data.items()]
    elif isinstance(data, list):
        entries = [(None, value, getattr(value, "line", 0)) for value in data]
    else:
        raise InventoryError(path, 1, "Rundeck resources must be a mapping or a list of nodes")
    nodes = []
    for key, node, line in entries:
        if not isinstance(node, LineDict):
            raise InventoryError(path, line, f"node {key or '#'!r} must be a mapping of attributes")
        name = node.get("nodename", key)
        if not isinstance(name, str) or not name:
            line = node.line_of("nodename")
            raise InventoryError(path, line, "nodename must be a non-empty string")
        nodes.append((name, node, line))
    return nodes


def _convert(path: str, name: str, node: LineDict, line: int) -> tuple[dict[str, Any], list[str]]:
    """Host variables and tags of one node; `line` is where the node starts."""
    host_vars: dict[str, Any] = {}
    hostname = node.get("hostname")
    if not isinstance(hostname, str) or not hostname:
        where = node.key_lines.get("hostname", line)
        raise InventoryError(path, where, f"node {name!r}: hostname is required")
    address, _, port = hostname.rpartition(":") if _has_port(hostname) else (hostname, "", "")
    if address != name:
        host_vars["ansible_host"] = address
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InventoryError(path, node.line_of("hostname"), f"hostname: bad port {port!r}")
        host_vars["ansible_port"] = int(port)
    if node.get("username") is not None:
        host_vars["ansible_user"] = str(node["username"])
    if str(node.get("osFamily", "")).lower() == "windows":
        host_vars["ansible_connection"] = "winrm"
    if node.get("ssh-keypath") is not None:
        host_vars["ansible_ssh_private_key_file"] = str(node["ssh-keypath"])
    tags = _tags(path, node)
    if tags:
        host_vars["console_tags"] = tags
    for key, value in node.items():
        if key not in _MAPPED:
            host_vars[_variable_name(str(key))] = value
    return host_vars, tags


def _variable_name(attribute: str) -> str:
    if attribute.isidentifier() and not attribute.startswith(("ansible_", "console_")):
        return attribute
    return "rundeck_" + _NOT_NAME.sub("_", attribute)


class _Dumper(yaml.SafeDumper):
    """Writes `host:` rather than `host: null`, as hand-written inventories do."""


_Dumper.add_representer(
    type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "")
)


def _has_port(hostname: str) -> bool:
    """`host:22` has a port; a bare IPv6 address such as `fe80::1` does not."""
    return hostname.count(":") == 1


def _tags(path: str, node: LineDict) -> list[str]:
    tags = node.get("tags")
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tag.strip() for tag in tags.split(",") if tag.strip()]
    if isinstance(tags, list) and all(isinstance(tag, (str, int, float)) for tag in tags):
        return [str(tag).strip() for tag in tags if str(tag).strip()]
    problem = "tags must be a comma-separated string or a list"
    raise InventoryError(path, node.line_of("tags"), problem)
