"""Desired-state benchmark: `opsconsole state check|apply` of a 12-resource
configuration on N fleet hosts versus `ansible-playbook [--check --diff]` of the
equivalent tasks. See README.md next to this file.

    .venv/bin/python bench/state/run.py [--hosts 20] [--runs 3]

Starts its own isolated fleet (tests/fleet.py, root), gives every host an offline flat
apt repo with the configuration's package and a SysV demo service, then times each
tool as a fresh process (what a user waits for), interleaved run by run after one
warm-up each, in three phases: a check of drifted hosts, an apply to drifted hosts
(the hosts are reset before every apply, outside the timed part) and a check of
compliant hosts. Every timed run's output is verified (every host reported, nothing
failed or unreachable), so a fast failure is never timed as a success.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.fanout.run import (  # noqa: E402
    ANSIBLE_CFG,
    ANSIBLE_VENV,
    close_control_masters,
    ensure_ansible,
)
from tests.fleet import Fleet, FleetHost, start_fleet  # noqa: E402
from tests.state.conftest import build_deb, install_demo_service, publish  # noqa: E402

RESOURCES = 12
CONFIGURATION = """\
description: bench/state, 12 resources
targets: fleet
mode: ApplyOnly
resources:
  - file: /etc/motd-bench
    content: "Managed by opsconsole\\n"
    mode: "0644"
    owner: root
    group: root
  - file: /etc/bench-app.conf
    content: "listen = 8080\\nworkers = 4\\n"
    mode: "0600"
    owner: root
  - file: /etc/issue-bench
    content: "Authorised use only\\n"
    mode: "0644"
  - file: /etc/legacy-bench.conf
    state: absent
  - directory: /srv/bench-app
    mode: "0755"
  - package: bench-tool
    state: present
  - service: bench-demo
    running: true
    enabled: true
  - lineinfile: /etc/bench-sshd.conf
    line: "PermitRootLogin prohibit-password"
    match: "^#?PermitRootLogin"
  - group: deploy
  - user: deploy
    state: present
    shell: /bin/bash
    groups: [adm]
  - file: /etc/bench-owned.conf
    content: "owned\\n"
    owner: deploy
    group: deploy
    mode: "0640"
  - command: touch /srv/bench-app/ready
    check: test -e /srv/bench-app/ready
"""

# The same twelve, task for task, with ansible.builtin modules only. No fact gathering
# (opsconsole gathers none either); the `service` module still learns the host's
# service manager on its own (one extra module run per host), as it would for a user.
PLAYBOOK = """\
- hosts: fleet
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: /etc/motd-bench
        content: "Managed by opsconsole\\n"
        mode: "0644"
        owner: root
        group: root
    - ansible.builtin.copy:
        dest: /etc/bench-app.conf
        content: "listen = 8080\\nworkers = 4\\n"
        mode: "0600"
        owner: root
    - ansible.builtin.copy:
        dest: /etc/issue-bench
        content: "Authorised use only\\n"
        mode: "0644"
    - ansible.builtin.file:
        path: /etc/legacy-bench.conf
        state: absent
    - ansible.builtin.file:
        path: /srv/bench-app
        state: directory
        mode: "0755"
    - ansible.builtin.apt:
        name: bench-tool
        state: present
    - ansible.builtin.service:
        name: bench-demo
        state: started
        enabled: true
    - ansible.builtin.lineinfile:
        path: /etc/bench-sshd.conf
        line: "PermitRootLogin prohibit-password"
        regexp: "^#?PermitRootLogin"
    - ansible.builtin.group:
        name: deploy
    - ansible.builtin.user:
        name: deploy
        state: present
        shell: /bin/bash
        groups: [adm]
    - ansible.builtin.copy:
        dest: /etc/bench-owned.conf
        content: "owned\\n"
        owner: deploy
        group: deploy
        mode: "0640"
    - ansible.builtin.command:
        cmd: touch /srv/bench-app/ready
        creates: /srv/bench-app/ready
"""

# Puts a host back in its drifted state (every resource differs from the
# configuration): run inside the host (tests.fleet's `host.run`), never timed.
RESET = """\
rm -rf /etc/motd-bench /etc/bench-app.conf /etc/issue-bench /etc/bench-owned.conf /srv/bench-app
echo 'legacy = yes' > /etc/legacy-bench.conf
printf '#PermitRootLogin yes\\nPort 22\\n' > /etc/bench-sshd.conf
dpkg --purge bench-tool >/dev/null 2>&1
/etc/init.d/bench-demo stop
rm -f /etc/rc?.d/[SK][0-9][0-9]bench-demo
userdel -r deploy >/dev/null 2>&1
groupdel deploy >/dev/null 2>&1
exit 0
"""

# The floor of a check: the same check script (console.state.checks) sent on stdin of
# the same command to every host at once over bare asyncssh, output read whole and
# not compared; no engine, no job, no report.
FLOOR = r"""
import asyncio, secrets, sys, yaml, asyncssh
from pathlib import Path
from console.state.checks import build_check_script
from console.state.config import load_configuration
from console.state.state_script import COMMAND
inv = yaml.safe_load(open(sys.argv[1]))["all"]["children"]["fleet"]["hosts"]
resources = load_configuration(Path(sys.argv[3])).resources
script = build_check_script(secrets.token_hex(16), resources)
async def one(v):
    async with asyncssh.connect(v["ansible_host"], port=v["ansible_port"],
            username=v["ansible_user"], client_keys=[v["ansible_ssh_private_key_file"]],
            known_hosts=sys.argv[2], compression_algs=None,
            kex_algs=["curve25519-sha256"]) as c:
        return (await c.run(COMMAND, input=script.encode(), encoding=None)).stdout
async def main():
    for out in await asyncio.gather(*(one(v) for v in inv.values())):
        sys.stdout.write(f"{len(out)}\n")
asyncio.run(main())
"""

Tool = Callable[[], float]


def prepare(fleet: Fleet, workdir: Path) -> None:
    """Offline apt repo with bench-tool on every host, the SysV demo service installed
    but stopped and disabled, then every host reset to its drifted state."""
    deb = build_deb(workdir, "bench-tool", "1.0")

    def one(host: FleetHost) -> None:
        publish(host, deb)
        install_demo_service(host, "bench-demo", running=False, enabled=False)

    on_every_host(fleet, one)
    reset(fleet)


def on_every_host(fleet: Fleet, action: Callable[[FleetHost], object]) -> None:
    with ThreadPoolExecutor(max_workers=len(fleet.hosts)) as pool:
        list(pool.map(action, fleet.hosts))


def reset(fleet: Fleet) -> None:
    on_every_host(fleet, lambda host: host.run(RESET, check=True, timeout=120))


def run_process(argv: list[str], env: dict[str, str], codes: tuple[int, ...]) -> tuple[float, str]:
    """Wall time of one fresh process and its stdout; any other exit code aborts."""
    time.sleep(0.5)  # let the previous tool's processes finish exiting
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode not in codes:
        raise SystemExit(f"{argv[:6]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


class Tools:
    """The two tools' command lines for one fleet, and the checks of their output."""

    def __init__(self, fleet: Fleet, workdir: Path, ansible: Path, hosts: int) -> None:
        self.hosts = hosts
        root = workdir / "opsconsole"
        self.configuration = root / "configurations" / "bench.yaml"
        (root / "configurations").mkdir(parents=True)
        (root / "runbooks").mkdir()
        self.configuration.write_text(CONFIGURATION)
        inventory = fleet.inventory(workdir / "inventory.yaml")
        self.floor = [sys.executable, "-c", FLOOR, str(inventory), str(fleet.known_hosts)]
        self.floor.append(str(self.configuration))
        self.env = {
            **fleet.ssh_env(),
            "OPSCONSOLE_INVENTORY": str(inventory),
            "OPSCONSOLE_DATA_DIR": str(root / "data"),
            "OPSCONSOLE_RUNBOOKS": str(root / "runbooks"),
            "OPSCONSOLE_CONFIGURATIONS": str(root / "configurations"),
        }
        self.control_dir = workdir / "cp"
        self.control_dir.mkdir()
        config = ANSIBLE_CFG.format(
            forks=hosts, ssh_config=fleet.ssh_config, control_dir=self.control_dir
        )
        # The default callback: PLAY RECAP (checked below) and the diffs a user reads.
        (workdir / "ansible.cfg").write_text(config.replace("minimal", "default"))
        (workdir / "bench.yml").write_text(PLAYBOOK)
        self.ansible_env = {**self.env, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg")}
        playbook = ansible.with_name("ansible-playbook")
        self.playbook = [str(playbook), "-i", str(inventory), str(workdir / "bench.yml")]
        self.opsconsole = [sys.executable, "-m", "console", "state"]

    def opsconsole_check(self, drifted: int) -> float:
        """`state check --json`: exit 1 with `drifted` resources per host, or 0 when
        compliant; every host reported, none failed."""
        argv = [*self.opsconsole, "check", "bench", "--json"]
        elapsed, out = run_process(argv, self.env, (1,) if drifted else (0,))
        self._expect_reports(out, "NotCompliant" if drifted else "Compliant", drifted)
        return elapsed

    def opsconsole_apply(self) -> float:
        argv = [*self.opsconsole, "apply", "bench", "--yes", "--json"]
        elapsed, out = run_process(argv, self.env, (0,))
        self._expect_reports(out, "Compliant", None)
        return elapsed

    def opsconsole_validate(self) -> float:
        """Start-up without SSH: the process, its imports, the in-process engine and
        the configuration read (`state validate`)."""
        return run_process([*self.opsconsole, "validate", "bench"], self.env, (0,))[0]

    def check_floor(self) -> float:
        elapsed, out = run_process(self.floor, self.env, (0,))
        if len(out.split()) != self.hosts:
            raise SystemExit(f"floor: expected {self.hosts} outputs, got {out!r}")
        return elapsed

    def ansible_check(self, changed: int) -> float:
        elapsed, out = run_process([*self.playbook, "--check", "--diff"], self.ansible_env, (0,))
        self._expect_recap(out, changed)
        return elapsed

    def ansible_apply(self) -> float:
        elapsed, out = run_process(self.playbook, self.ansible_env, (0,))
        self._expect_recap(out, None)
        return elapsed

    def _expect_reports(self, out: str, status: str, drifted: int | None) -> None:
        reports = json.loads(out)
        seen = {(r["status"], len(r["resources"])) for r in reports}
        if len(reports) != self.hosts or seen != {(status, RESOURCES)}:
            raise SystemExit(f"opsconsole: expected {self.hosts} x {status}, got {seen}\n{out}")
        counts = {sum(x["status"] == "drifted" for x in r["resources"]) for r in reports}
        if drifted is not None and counts != {drifted}:
            raise SystemExit(f"opsconsole: expected {drifted} drifted per host, got {counts}")

    def _expect_recap(self, out: str, changed: int | None) -> None:
        """Every host in PLAY RECAP, none failed or unreachable, `changed` tasks each."""
        recap = re.findall(r"changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
        bad = [
            r
            for r in recap
            if r[1:] != ("0", "0") or (changed is not None and int(r[0]) != changed)
        ]
        if len(recap) != self.hosts or bad:
            raise SystemExit(f"ansible: expected {self.hosts} hosts, changed={changed}:\n{out}")


def interleave(
    tools: dict[str, Tool], runs: int, before: Callable[[], None]
) -> dict[str, list[float]]:
    """One warm-up each, then `runs` rounds taking the tools in turn; `before` runs
    (untimed) before every run, e.g. to reset the hosts."""
    times: dict[str, list[float]] = {name: [] for name in tools}
    for tool in tools.values():
        before()
        tool()
    for _ in range(runs):
        for name, tool in tools.items():
            before()
            times[name].append(tool())
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr, flush=True)
    return times


def cross_check(fleet: Fleet, tools: Tools) -> None:
    """The two definitions are equivalent: after one tool's apply, the other sees
    nothing to change (a compliant opsconsole check; an ansible check changing
    nothing)."""
    reset(fleet)
    tools.opsconsole_apply()
    tools.ansible_check(changed=0)
    reset(fleet)
    tools.ansible_apply()
    tools.opsconsole_check(drifted=0)


def profile_check(tools: Tools, runs: int) -> dict[str, dict[str, list[float]]]:
    """Where a compliant check's time goes (no Ansible): the whole check, start-up
    without SSH, and the same check script over bare asyncssh."""
    tools.opsconsole_apply()
    tools.opsconsole_check(drifted=0)
    parts = {
        "opsconsole check": lambda: tools.opsconsole_check(drifted=0),
        "state validate (no SSH)": tools.opsconsole_validate,
        "asyncssh floor": tools.check_floor,
    }
    return {"profile, compliant": interleave(parts, runs, before=lambda: None)}


def run_phases(
    fleet: Fleet, tools: Tools, runs: int, with_steady: bool, profile: bool
) -> dict[str, dict[str, list[float]]]:
    """The cross-check, then each phase's runs; apply's runs each start from reset hosts."""
    if profile:
        return profile_check(tools, runs)
    cross_check(fleet, tools)
    reset(fleet)
    phases = {
        "check, drifted": interleave(
            {
                "opsconsole": lambda: tools.opsconsole_check(drifted=RESOURCES),
                "ansible": lambda: tools.ansible_check(changed=RESOURCES),
            },
            runs,
            before=lambda: None,
        ),
    }
    reset(fleet)
    phases["apply, drifted"] = interleave(
        {"opsconsole": tools.opsconsole_apply, "ansible": tools.ansible_apply},
        runs,
        before=lambda: reset(fleet),
    )
    if with_steady:
        phases["check, compliant"] = interleave(
            {
                "opsconsole": lambda: tools.opsconsole_check(drifted=0),
                "ansible": lambda: tools.ansible_check(changed=0),
            },
            runs,
            before=lambda: None,
        )
    return phases


def bench(
    hosts: int, runs: int, ansible: Path, with_steady: bool, profile: bool
) -> dict[str, dict[str, list[float]]]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as tmp,
        start_fleet(hosts, Path(tmp) / "fleet") as fleet,
    ):
        if not fleet.isolated:
            raise SystemExit("bench/state needs an isolated fleet (run as root)")
        prepare(fleet, Path(tmp))
        tools = Tools(fleet, Path(tmp), ansible, hosts)
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(REPO / "console")], check=True
        )
        try:
            return run_phases(fleet, tools, runs, with_steady, profile)
        finally:
            close_control_masters(tools.control_dir)


# opsconsole / ansible, at most (issue 13)
TARGETS = {"check, drifted": 0.1, "apply, drifted": 0.2, "check, compliant": 0.1}


def print_ratio(times: dict[str, list[float]], target: float) -> None:
    ops, ans = (statistics.median(times[name]) for name in ("opsconsole", "ansible"))
    verdict = "holds" if ops / ans <= target else "MISSED"
    print(f"  opsconsole / ansible: {ops / ans:.3f} (1/{ans / ops:.1f}); "
          f"target at most {target:g}: {verdict}")  # fmt: skip


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-steady", action="store_true", help="skip the compliant check")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead, split a compliant check (no Ansible): start-up without SSH (state "
        "validate), the check script over bare asyncssh, the whole check",
    )
    args = parser.parse_args()
    ansible = ANSIBLE_VENV / "bin" / "ansible" if args.profile else ensure_ansible()
    print(f"cpus: {os.cpu_count()}, hosts: {args.hosts}, runs: {args.runs} (medians, seconds)")
    print(f"start: {uptime()}")
    phases = bench(args.hosts, args.runs, ansible, not args.no_steady, args.profile)
    print(f"end:   {uptime()}\n")
    for phase, times in phases.items():
        print(f"{phase}:")
        for name, values in times.items():
            each = " ".join(f"{v:.2f}" for v in values)
            print(f"  {name:<24} {statistics.median(values):7.2f} s   (runs: {each})")
        if phase in TARGETS:
            print_ratio(times, TARGETS[phase])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
