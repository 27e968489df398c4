"""Ansible-compatible inventory: load, validate, and select hosts by pattern.

Public API:

- `load_inventory(path) -> Inventory`: reads Ansible YAML inventory or the JSON that
  `ansible-inventory --list` prints; raises `console.errors.InventoryError(path, line,
  problem)` and never returns a partial inventory.
- `Inventory`: `.path`, `.hosts` (name → Host, in Ansible's order), `.groups`
  (name → Group), `.select(pattern) -> list[Host]`, `.get(name) -> Host`.
- `Host`: name, merged `vars`, `groups`, and connection properties (address, port, user,
  connection, private_key_file, host_key_policy, jump_host, known_hosts_file, tags).
- `console.inventory.patterns`: Ansible target patterns plus `tag=value`.
"""

from console.inventory.loader import load_inventory
from console.inventory.model import Group, Host, Inventory

__all__ = ["Group", "Host", "Inventory", "load_inventory"]
