"""opsconsole's answers must equal Ansible's, recorded in ansible_answers/ by
make_ansible_answers.py (ansible-core is not needed to run these tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli.inventory_cmd import graph_lines
from console.inventory import load_inventory

HERE = Path(__file__).parent
INVENTORY = HERE / "golden_inventory.yaml"
ANSWERS = HERE / "ansible_answers"
PATTERNS = json.loads((ANSWERS / "patterns.json").read_text())
LISTING = json.loads((ANSWERS / "list.json").read_text())


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(INVENTORY)


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_pattern_selects_what_ansible_selects(inventory, pattern):
    expected = PATTERNS[pattern]
    got = [host.name for host in inventory.select(pattern)]
    if expected["order_defined"]:
        assert got == expected["hosts"]
    else:  # Ansible's own order varies between runs here; the set must still match
        assert sorted(got) == sorted(expected["hosts"])
        assert len(got) == len(set(got))


def test_enough_varied_patterns_are_recorded():
    assert len(PATTERNS) >= 25
    assert sum(answer["order_defined"] for answer in PATTERNS.values()) >= 25


def test_merged_vars_equal_ansible_hostvars(inventory):
    hostvars = LISTING["_meta"]["hostvars"]
    assert sorted(inventory.hosts) == sorted(hostvars)
    for name, host in inventory.hosts.items():
        assert dict(host.vars) == hostvars[name], name


def _ansible_memberships() -> dict[str, set[str]]:
    """Every group of every host (direct or through children), from --list output."""
    parents: dict[str, set[str]] = {}
    for group, body in LISTING.items():
        for child in body.get("children", []) if group != "_meta" else []:
            parents.setdefault(child, set()).add(group)

    def ancestors(group: str) -> set[str]:
        found = set()
        for parent in parents.get(group, ()):
            found |= {parent} | ancestors(parent)
        return found

    member: dict[str, set[str]] = {}
    for group, body in LISTING.items():
        for host in body.get("hosts", []) if group != "_meta" else []:
            member.setdefault(host, set()).update({group} | ancestors(group))
    return {host: groups - {"all"} for host, groups in member.items()}


def test_group_membership_equals_ansible(inventory):
    expected = _ansible_memberships()
    for name, host in inventory.hosts.items():
        assert set(host.groups) == expected[name], name
        assert list(host.groups) == sorted(host.groups)


def test_graph_equals_ansible_inventory_graph(inventory):
    expected = (ANSWERS / "graph.txt").read_text().splitlines()
    assert graph_lines(inventory, "all") == expected


def test_ansible_inventory_list_json_loads_with_the_same_hosts_and_vars(inventory):
    from_json = load_inventory(ANSWERS / "list.json")
    assert sorted(from_json.hosts) == sorted(inventory.hosts)
    for name, host in from_json.hosts.items():
        assert dict(host.vars) == dict(inventory.hosts[name].vars)
        assert host.groups == inventory.hosts[name].groups
    assert [h.name for h in from_json.select("web:&prod:!web02*")] == [
        "web01.example.com",
        "web04.example.com",
        "web06.example.com",
        "web08.example.com",
    ]
