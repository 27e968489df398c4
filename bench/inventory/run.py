"""Inventory collection benchmark: opsconsole's collector on N fleet hosts versus
Ansible's fact, package and service gathering (20 hosts) and versus a bare asyncssh
script sending the same collector script (100 hosts). See README.md next to this file.

    .venv/bin/python bench/inventory/run.py [--runs 5] [--no-ansible]

Every tool runs as a fresh process (what a user waits for), interleaved run by run so
that machine noise hits all alike; prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.fanout.run import (  # noqa: E402
    ANSIBLE_CFG,
    close_control_masters,
    ensure_ansible,
    interleaved_medians,
)
from tests.fleet import start_fleet  # noqa: E402

# opsconsole: load the inventory, collect every host through the transport pool,
# parse each output into a Snapshot; print one line per host.
OPSCONSOLE = r"""
import asyncio, sys
from pathlib import Path
from console.changes.collector import collect
from console.changes.model import TrackedPath
from console.inventory.loader import load_inventory
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
async def main():
    hosts = load_inventory(sys.argv[1]).select("fleet")
    pool = TransportPool(known_hosts=Path(sys.argv[2]), ssh_config=[])
    try:
        snaps = await asyncio.gather(*(
            collect(transport_for(h, pool), h.name, [TrackedPath("/etc/hostname")]) for h in hosts))
    finally:
        await pool.close()
    for s in snaps:
        print(s.host, len(s.software), len(s.services))
asyncio.run(main())
"""

# The floor: the same script on stdin of `sh -s`, connections opened concurrently,
# output read whole and not parsed.
FLOOR = r"""
import asyncio, sys, yaml, asyncssh
from console.changes.collector import COMMAND, build_script
from console.changes.model import TrackedPath
inv = yaml.safe_load(open(sys.argv[1]))["all"]["children"]["fleet"]["hosts"]
script = build_script("0" * 32, [TrackedPath("/etc/hostname")])
async def one(v):
    async with asyncssh.connect(v["ansible_host"], port=v["ansible_port"],
            username=v["ansible_user"], client_keys=[v["ansible_ssh_private_key_file"]],
            known_hosts=sys.argv[2], compression_algs=None,
            kex_algs=["curve25519-sha256"]) as c:
        return (await c.run(COMMAND, input=script, encoding=None)).stdout
async def main():
    for out in await asyncio.gather(*(one(v) for v in inv.values())):
        sys.stdout.write(f"{len(out)}\n")
asyncio.run(main())
"""

PLAYBOOK = """\
- hosts: fleet
  gather_facts: true
  tasks:
    - package_facts:
    - service_facts:
"""


def bench(count: int, runs: int, ansible: Path | None) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-inventory-") as tmp,
        start_fleet(count, Path(tmp) / "fleet") as fleet,
    ):
        inventory = fleet.inventory(Path(tmp) / "inventory.yaml")
        env = {**fleet.ssh_env(), "PYTHONPATH": str(REPO)}
        control_dir = Path(tmp) / "cp"
        control_dir.mkdir()
        (Path(tmp) / "ansible.cfg").write_text(
            ANSIBLE_CFG.format(forks=count, ssh_config=fleet.ssh_config, control_dir=control_dir)
        )
        (Path(tmp) / "collect.yml").write_text(PLAYBOOK)
        ansible_env = {**env, "ANSIBLE_CONFIG": str(Path(tmp) / "ansible.cfg")}
        known = str(fleet.known_hosts)
        tools = {
            "opsconsole": [sys.executable, "-c", OPSCONSOLE, str(inventory), known],
            "asyncssh floor": [sys.executable, "-c", FLOOR, str(inventory), known],
        }
        if ansible is not None:
            playbook = ansible.with_name("ansible-playbook")
            tools["ansible"] = [str(playbook), "-i", str(inventory), str(Path(tmp) / "collect.yml")]
        envs = {name: ansible_env if name == "ansible" else env for name in tools}
        try:
            return interleaved_medians(tools, envs, runs)
        finally:
            close_control_masters(control_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-ansible", action="store_true")
    args = parser.parse_args()
    ansible = None if args.no_ansible else ensure_ansible()
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians, seconds)")
    for count, with_ansible in ((20, ansible), (100, None)):
        medians = bench(count, args.runs, with_ansible)
        print(f"\n{count} hosts, full collection (load average {os.getloadavg()[0]:.1f} after)")
        for name, value in medians.items():
            print(f"  {name:<16} {value:7.3f} s")
        floor = medians["asyncssh floor"]
        print(f"  opsconsole / asyncssh floor: {medians['opsconsole'] / floor:.2f}x")
        if "ansible" in medians:
            print(f"  opsconsole / ansible: {medians['opsconsole'] / medians['ansible']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
