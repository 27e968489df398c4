"""`opsconsole inventory ...`: list, check and graph the inventory; import from Rundeck.

`list_hosts` is also the command run with no subcommand, so it accepts `args` without
a `pattern` or `json` attribute.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from console.cli.inventory_data_cmd import register_actions
from console.engine.wire import host_to_dict
from console.errors import EXIT_OK, UsageError
from console.inventory import Host, Inventory, load_inventory
from console.inventory.rundeck import rundeck_to_ansible
from console.settings import Settings


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "inventory",
        parents=[common],
        help="list, check and graph the inventory",
        description="Work with the Ansible-compatible inventory.",
    )
    parser.set_defaults(handler=list_hosts)
    sub = parser.add_subparsers(dest="inventory_command", metavar="ACTION")

    listing = sub.add_parser(
        "list",
        parents=[common],
        help="hosts matching a target pattern (default all)",
        description="Target patterns use Ansible's syntax (web:&prod:!web03, ~regex, "
        "globs) plus tag=VALUE for console_tags.",
    )
    listing.add_argument("pattern", nargs="?", default="all", help="target pattern")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=list_hosts)

    check = sub.add_parser("check", parents=[common], help="validate and summarise")
    check.set_defaults(handler=check_inventory)

    graph = sub.add_parser("graph", parents=[common], help="groups and hosts as a tree")
    graph.add_argument("group", nargs="?", default="all", help="group to start at")
    graph.set_defaults(handler=graph_inventory)

    rundeck = sub.add_parser(
        "import-rundeck",
        parents=[common],
        help="convert a Rundeck resources.yaml to Ansible YAML on stdout",
    )
    rundeck.add_argument("file", help="Rundeck resources.yaml (map or list form)")
    rundeck.set_defaults(handler=import_rundeck)
    register_actions(sub, common)


def list_hosts(args: argparse.Namespace, settings: Settings) -> int:
    """Print the hosts a pattern selects, as a table or (--json) as an array."""
    pattern = getattr(args, "pattern", None) or "all"
    inventory = load_inventory(settings.inventory)
    hosts = inventory.select(pattern)
    if getattr(args, "json", False):
        print(json.dumps([host_to_dict(host) for host in hosts], indent=2, default=str))
    else:
        print_table(hosts)
    if not hosts:
        sys.stderr.write(f"opsconsole: no hosts matched {pattern!r} in {inventory.path}\n")
    return EXIT_OK


def print_table(hosts: list[Host]) -> None:
    rows = [("NAME", "ADDRESS", "CONNECTION", "GROUPS")]
    rows += [(h.name, _address(h), h.connection, ",".join(h.groups)) for h in hosts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]).rstrip())


def _address(host: Host) -> str:
    if host.connection == "local":
        return host.address
    return f"{host.address}:{host.port}"


def check_inventory(args: argparse.Namespace, settings: Settings) -> int:
    """Load (which validates) and summarise; a bad inventory exits 2 via InventoryError."""
    inventory = load_inventory(settings.inventory)
    counts = Counter(host.connection for host in inventory.hosts.values())
    by_connection = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    print(f"{inventory.path}: OK")
    print(f"hosts: {len(inventory.hosts)}")
    print(f"groups: {len(inventory.groups)}")
    print(f"by connection: {by_connection or 'none'}")
    return EXIT_OK


def graph_inventory(args: argparse.Namespace, settings: Settings) -> int:
    """Print the group tree the way `ansible-inventory --graph` does."""
    inventory = load_inventory(settings.inventory)
    group = getattr(args, "group", "all")
    if group not in inventory.groups:
        raise UsageError(f"no group {group!r} in inventory {inventory.path}")
    print("\n".join(graph_lines(inventory, group)))
    return EXIT_OK


def graph_lines(inventory: Inventory, group: str, depth: int = 0) -> list[str]:
    """`@group:` lines, children first then hosts, each level indented by `  |`."""
    lines = [_graph_name(f"@{group}:", depth)]
    for child in inventory.groups[group].children:
        lines.extend(graph_lines(inventory, child, depth + 1))
    if group != "all":
        lines.extend(_graph_name(host, depth + 1) for host in inventory.groups[group].hosts)
    return lines


def _graph_name(name: str, depth: int) -> str:
    return "  |" * depth + "--" + name if depth else name


def import_rundeck(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(rundeck_to_ansible(args.file))
    return EXIT_OK
