"""Fan-out benchmark: `uname -r` on N fleet hosts, opsconsole vs a bare asyncssh floor
vs Ansible. See README.md next to this file.

    .venv/bin/python bench/fanout/run.py [--hosts 20 100] [--runs 5] [--compare DIR]

Starts its own fleet(s) with tests.fleet, times each tool as a fresh process (what a
user waits for), interleaved run by run so that machine noise hits all alike, and
prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.fleet import start_fleet  # noqa: E402

ANSIBLE_VENV = REPO / "bench" / ".venv-ansible"

# The floor: connect to every host concurrently, run, print. Same key exchange, no
# compression and the user's ~/.ssh/config read (asyncssh's default), as opsconsole
# does, so the comparison is about overhead only. Given a third argument, the floor
# reads no ssh config (`config=[]`): what a script that ignores it can do.
FLOOR = r"""
import asyncio, sys, yaml, asyncssh
inv = yaml.safe_load(open(sys.argv[1]))["all"]["children"]["fleet"]["hosts"]
config = {"config": []} if len(sys.argv) > 3 else {}
async def one(v):
    async with asyncssh.connect(v["ansible_host"], port=v["ansible_port"],
            username=v["ansible_user"], client_keys=[v["ansible_ssh_private_key_file"]],
            known_hosts=sys.argv[2], compression_algs=None,
            kex_algs=["curve25519-sha256"], **config) as c:
        return (await c.run("uname -r")).stdout
async def main():
    for out in await asyncio.gather(*(one(v) for v in inv.values())):
        sys.stdout.write(out)
asyncio.run(main())
"""

ANSIBLE_CFG = """\
[defaults]
host_key_checking = True
forks = {forks}
gathering = explicit
interpreter_python = /usr/bin/python3
stdout_callback = minimal
[ssh_connection]
pipelining = True
ssh_args = -F {ssh_config} -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = {control_dir}
"""


def ensure_ansible() -> Path:
    """ansible-core in the benchmark's own venv (never in the project's)."""
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if not ansible.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True
        )
    return ansible


def timed(argv: list[str], env: dict[str, str]) -> float:
    time.sleep(0.5)  # let the previous tool's processes finish exiting
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def interleaved_medians(
    tools: dict[str, list[str]], envs: dict[str, dict[str, str]], runs: int
) -> dict[str, float]:
    """Each tool's median over `runs`, run by run in turn after one warm-up each (page
    cache, ControlPersist), so that every tool meets the same machine noise."""
    times: dict[str, list[float]] = {name: [] for name in tools}
    for name, argv in tools.items():
        timed(argv, envs[name])
    for _ in range(runs):
        for name, argv in tools.items():
            times[name].append(timed(argv, envs[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def close_control_masters(control_dir: Path) -> None:
    """Ansible leaves its ControlPersist masters running for 60 s: end them now."""
    for socket_path in control_dir.glob("*"):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "master"], capture_output=True
        )
        socket_path.unlink(missing_ok=True)


def opsconsole_argv(source: Path, inventory: Path) -> list[str]:
    """The CLI of the checkout at `source` (`python -m console` run in it and with it
    first on the path), so that two versions run under the same interpreter and flags.
    Run in it: `-m` puts the working directory before PYTHONPATH, so run from here it
    would time this checkout whatever `source` says."""
    return [
        "env",
        "-C",
        str(source),
        f"PYTHONPATH={source}",
        sys.executable,
        "-m",
        "console",
        "-i",
        str(inventory),
        "exec",
        "fleet",
        "--",
        "uname",
        "-r",
    ]


def bench(
    count: int, runs: int, ansible: Path | None, compare: Path | None = None
) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp,
        start_fleet(count, Path(tmp) / "fleet") as fleet,
    ):
        inventory = fleet.inventory(Path(tmp) / "inventory.yaml")
        env = fleet.ssh_env()
        control_dir = Path(tmp) / "cp"
        control_dir.mkdir()
        (Path(tmp) / "ansible.cfg").write_text(
            ANSIBLE_CFG.format(forks=count, ssh_config=fleet.ssh_config, control_dir=control_dir)
        )
        ansible_env = {**env, "ANSIBLE_CONFIG": str(Path(tmp) / "ansible.cfg")}
        tools = {
            "opsconsole": opsconsole_argv(REPO, inventory),
            "asyncssh floor": [sys.executable, "-c", FLOOR, str(inventory), str(fleet.known_hosts)],
            "floor, no config": [
                *[sys.executable, "-c", FLOOR, str(inventory), str(fleet.known_hosts)],
                "no-config",
            ],
        }
        if compare is not None:
            tools[f"opsconsole@{compare.name}"] = opsconsole_argv(compare, inventory)
        if ansible is not None:
            tools["ansible"] = [
                str(ansible),
                "fleet",
                "-i",
                str(inventory),
                "-m",
                "command",
                "-a",
                "uname -r",
                "-f",
                str(count),
            ]
        for source in (REPO, compare):  # bytecode, as an installed package has it
            if source is not None:
                subprocess.run(
                    [sys.executable, "-m", "compileall", "-q", str(source / "console")], check=True
                )
        envs = {name: ansible_env if name == "ansible" else env for name in tools}
        try:
            return interleaved_medians(tools, envs, runs)
        finally:
            close_control_masters(control_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-ansible", action="store_true")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="also time the exec of another checkout (e.g. a `git worktree` of main)",
    )
    args = parser.parse_args()
    ansible = None if args.no_ansible else ensure_ansible()
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians, seconds)")
    for count in args.hosts:
        load = os.getloadavg()[0]
        medians = bench(count, args.runs, ansible, args.compare)
        floor = medians["asyncssh floor"]
        print(f"\n{count} hosts, uname -r (load average {load:.1f} before, ", end="")
        print(f"{os.getloadavg()[0]:.1f} after)")
        bare = medians["floor, no config"]
        for name, value in medians.items():
            print(f"  {name:<24} {value:7.3f} s   {value / floor:5.2f}x floor", end="")
            print(f"   {value / bare:5.2f}x floor without config")
        if "ansible" in medians:
            print(f"  ansible / opsconsole: {medians['ansible'] / medians['opsconsole']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
