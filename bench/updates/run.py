"""Assessment benchmark: `opsconsole updates assess --no-refresh` on 20 fleet hosts,
as a whole process (start-up, engine, job, store included), versus a bare asyncssh
script running the same simulate command (`apt-get -s -qq dist-upgrade`) on every host
at once. See README.md next to this file.

    .venv/bin/python bench/updates/run.py [--runs 5] [--hosts 20]

Both run as fresh processes, interleaved run by run so that machine noise hits both
alike; prints medians and the ratio (target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.fanout.run import interleaved_medians  # noqa: E402
from tests.fleet import start_fleet  # noqa: E402

# The floor: the simulate command the assessment runs, over connections opened
# concurrently, output read whole and not parsed.
FLOOR = r"""
import asyncio, sys, yaml, asyncssh
inv = yaml.safe_load(open(sys.argv[1]))["all"]["children"]["fleet"]["hosts"]
COMMAND = "LC_ALL=C apt-get -s -qq dist-upgrade </dev/null"
async def one(v):
    async with asyncssh.connect(v["ansible_host"], port=v["ansible_port"],
            username=v["ansible_user"], client_keys=[v["ansible_ssh_private_key_file"]],
            known_hosts=sys.argv[2], compression_algs=None,
            kex_algs=["curve25519-sha256"]) as c:
        return (await c.run(COMMAND, encoding=None)).stdout
async def main():
    for out in await asyncio.gather(*(one(v) for v in inv.values())):
        sys.stdout.write(f"{len(out)}\n")
asyncio.run(main())
"""


def bench(count: int, runs: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-updates-") as tmp,
        start_fleet(count, Path(tmp) / "fleet") as fleet,
    ):
        inventory = fleet.inventory(Path(tmp) / "inventory.yaml")
        (Path(tmp) / "runbooks").mkdir()
        env = {
            **fleet.ssh_env(),
            "PYTHONPATH": str(REPO),
            "OPSCONSOLE_INVENTORY": str(inventory),
            "OPSCONSOLE_DATA_DIR": str(Path(tmp) / "data"),
            "OPSCONSOLE_RUNBOOKS": str(Path(tmp) / "runbooks"),
        }
        opsconsole = Path(sys.executable).with_name("opsconsole")
        tools = {
            "opsconsole": [str(opsconsole), "updates", "assess", "fleet", "--no-refresh"],
            "asyncssh floor": [sys.executable, "-c", FLOOR, str(inventory), str(fleet.known_hosts)],
        }
        return interleaved_medians(tools, {name: env for name in tools}, runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians, seconds)")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    medians = bench(args.hosts, args.runs)
    print(
        f"\n{args.hosts} hosts, assessment without refresh "
        f"(load average {os.getloadavg()[0]:.1f} after)"
    )
    for name, value in medians.items():
        print(f"  {name:<16} {value:7.3f} s")
    print(
        f"  opsconsole / asyncssh floor: {medians['opsconsole'] / medians['asyncssh floor']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
