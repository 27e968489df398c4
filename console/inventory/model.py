"""The inventory's domain objects: hosts with merged variables, and groups.

Variable names follow Ansible (`ansible_host`, `ansible_port`, ...) so the same file
works with Ansible; opsconsole's own settings use the `console_` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONNECTIONS = ("ssh", "winrm", "local")
HOST_KEY_POLICIES = ("strict", "accept-new", "off")
DEFAULT_PORTS = {"ssh": 22, "winrm": 5985, "local": 0}


@dataclass(frozen=True)
class Host:
    """One machine. `vars` are the merged variables, exactly as Ansible merges them."""

    name: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()

    @property
    def connection(self) -> str:
        value = str(self.vars.get("ansible_connection", "ssh"))
        # Ansible's historic aliases for its SSH connection plugins.
        return "ssh" if value in ("smart", "paramiko", "paramiko_ssh") else value

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host", self.name))

    @property
    def port(self) -> int:
        port = self.vars.get("ansible_port")
        return int(port) if port is not None else DEFAULT_PORTS.get(self.connection, 22)

    @property
    def user(self) -> str | None:
        user = self.vars.get("ansible_user")
        return str(user) if user is not None else None

    @property
    def private_key_file(self) -> str | None:
        key = self.vars.get("ansible_ssh_private_key_file")
        return str(key) if key is not None else None

    @property
    def host_key_policy(self) -> str:
        return str(self.vars.get("console_host_key_policy", "strict"))

    @property
    def jump_host(self) -> str | None:
        jump = self.vars.get("console_jump_host")
        return str(jump) if jump is not None else None

    @property
    def tags(self) -> tuple[str, ...]:
        tags = self.vars.get("console_tags", ())
        if isinstance(tags, str):
            return tuple(t.strip() for t in tags.split(",") if t.strip())
        return tuple(str(t) for t in tags)
