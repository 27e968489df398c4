#!/usr/bin/env python3
"""Regenerate the golden answers in ansible_answers/ from ansible-core itself.

The tests never run Ansible; they compare opsconsole with what this script recorded.
To regenerate (ansible-core lives in its own venv, never in the project's):

    python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install ansible-core
    python3 tests/inventory/make_ansible_answers.py [/tmp/ansible-venv/bin]

It runs, with the yaml inventory plugin only (keep no ansible.cfg in the way):
- `ansible-inventory -i golden_inventory.yaml --list`  → ansible_answers/list.json
- `ansible-inventory -i golden_inventory.yaml --graph` → ansible_answers/graph.txt
- `ansible -i golden_inventory.yaml PATTERN --list-hosts` for each pattern in PATTERNS
  → ansible_answers/patterns.json ({pattern: {"hosts": [...], "order_defined": bool}})

Ansible walks group trees through Python sets of Group objects, so where a pattern
reaches groups at the same depth under different parents the host order depends on
object addresses and changes between runs. Each pattern is therefore run under several
PYTHONHASHSEED values; `order_defined` is false when the runs disagreed on the order
(they always agree on the set of hosts), and the tests then compare sets only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "golden_inventory.yaml"
ANSWERS = HERE / "ansible_answers"

PATTERNS = [
    "all",
    "*",
    "web",
    "prod",
    "east_web",
    "datacenters",
    "ungrouped",
    "loners",
    "web0*",
    "*.example.com",
    "*east*",
    "~web0[1-3].*",
    "~db-[ab]",
    "web:&prod",
    "web:!prod",
    "web,db-*",
    "prod:&east_web:!web01.example.com",
    "linux:!windows",
    "!prod",
    "&prod",
    "!prod:web",
    "staging:prod",
    "prod:staging",
    "dc_west,dc_east",
    "datacenters:&staging:!west_web",
    "bastion01",
    "web01.example.com:web02.example.com",
    "win*",
    "windows:!win2*",
    "web[0]",
    "web[-1]",
    "web[1:3]",
    "prod[2:]",
    "w*b[0]",
    "nosuchgroup",
    "nosuch*:prod",
    "ungrouped:&orphan*",
    "localhost",
    "all:!datacenters",
    "canary,staging,prod",
    "web:&prod:&staging",
    "~.*\\.corp\\..*",
]


SEEDS = ("0", "1", "2", "3", "4")


def run(command: list[str], seed: str = "0") -> str:
    env = dict(
        os.environ,
        PYTHONHASHSEED=seed,
        ANSIBLE_INVENTORY_ENABLED="yaml",
        ANSIBLE_HOST_PATTERN_MISMATCH="ignore",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    done = subprocess.run(command, env=env, cwd=HERE, capture_output=True, text=True, check=True)
    return done.stdout


def list_hosts(bindir: Path, pattern: str, seed: str) -> list[str]:
    """Parse `  hosts (N):` followed by one indented host per line."""
    command = [str(bindir / "ansible"), "-i", INVENTORY.name, pattern, "--list-hosts"]
    output = run(command, seed)
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("hosts ("))
    return [line.strip() for line in lines[start + 1 :] if line.strip()]


def main() -> None:
    bindir = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ansible-venv/bin")
    ANSWERS.mkdir(exist_ok=True)
    inventory_cmd = [str(bindir / "ansible-inventory"), "-i", INVENTORY.name]
    listing = json.loads(run([*inventory_cmd, "--list"]))
    listing["_meta"].pop("profile", None)
    (ANSWERS / "list.json").write_text(json.dumps(listing, indent=2, sort_keys=True) + "\n")
    (ANSWERS / "graph.txt").write_text(run([*inventory_cmd, "--graph"]))
    answers = {}
    for pattern in PATTERNS:
        runs = [list_hosts(bindir, pattern, seed) for seed in SEEDS]
        if any(sorted(other) != sorted(runs[0]) for other in runs):
            raise SystemExit(f"ansible selected different hosts across runs for {pattern!r}")
        defined = all(other == runs[0] for other in runs)
        answers[pattern] = {"hosts": runs[0], "order_defined": defined}
    (ANSWERS / "patterns.json").write_text(json.dumps(answers, indent=2) + "\n")
    version = run([str(bindir / "ansible"), "--version"]).splitlines()[0]
    (ANSWERS / "VERSION").write_text(version + "\n")


if __name__ == "__main__":
    main()
