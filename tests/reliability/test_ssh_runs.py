"""SSH host runs always end: jump loops are refused at load, every connect (through any
number of jumps) is bounded, a run that is not connected holds no slot, an unexpected
error fails one host run alone, and stopping a job ends what it started on every host.

All against the real OpenSSH fleet (tests/fleet.py). A "silent" endpoint is a TCP
listener that accepts connections (the kernel completes the handshake) and never says
a word, so an SSH connect to it hangs for real, as to a blackholed bastion.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.jobs.model import JobStatus
from console.transports.pool import DEFAULT_CONNECT_TIMEOUT
from tests.fleet import Fleet
from tests.jobs.helpers import JobEnv, gone_on_host, make_job_env, on_host, wait_finished
from tests.runbooks.conftest import make_site

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never speaks."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield int(listener.getsockname()[1])


def exec_cli(
    fleet: Fleet, inventory: Path, *args: str, timeout: float = 90
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`opsconsole exec ...` as a user runs it; returns the result and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "exec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=fleet.ssh_env(),
    )
    return done, time.monotonic() - started


def by_host(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {result["host"]: result for result in json.loads(done.stdout)}


# ------------------------------------------------------------------ item 5: jump hosts


def test_ansible_style_jump_ends_within_timeout_and_other_hosts_succeed(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The issue's reproduction: `-o ProxyJump=ops@127.0.0.1` (nothing listens on :22)
    used to deadlock the connect on itself forever."""
    jumpy = {"ansible_ssh_common_args": "-o ProxyJump=ops@127.0.0.1"}
    inventory = fleet.inventory(tmp_path / "inv.yaml", host_vars={"host01": jumpy})
    done, took = exec_cli(
        fleet, inventory, "host01:host02", "--json", "--timeout", "5", "--", "true"
    )
    assert took < 5 + 30, "exec did not end within its timeout plus a generous margin"
    results = by_host(done)
    assert done.returncode == 1, done.stderr
    assert results["host02"]["status"] == "ok"
    assert results["host01"]["status"] == "unreachable"
    assert "via jump host ops@127.0.0.1" in results["host01"]["error"]["message"]


def test_a_jump_that_never_answers_is_bounded_by_the_exec_timeout(
    fleet: Fleet, tmp_path: Path, silent_port: int
) -> None:
    jumpy = {"ansible_ssh_common_args": f"-o ProxyJump=ops@127.0.0.1:{silent_port}"}
    inventory = fleet.inventory(tmp_path / "inv.yaml", host_vars={"host01": jumpy})
    done, _ = exec_cli(fleet, inventory, "host01:host02", "--json", "--timeout", "3", "--", "true")
    results = by_host(done)
    assert results["host02"]["status"] == "ok"
    assert results["host01"]["status"] == "timed_out"
    assert "not connected within the job's 3 s time limit" in results["host01"]["error"]["message"]
    # Bounded by --timeout (3 s), not by the longer connect timeout.
    assert 3 <= results["host01"]["duration"] < DEFAULT_CONNECT_TIMEOUT - 2


def test_a_hop_behind_a_real_jump_that_never_answers_is_bounded(
    fleet: Fleet, tmp_path: Path, silent_port: int
) -> None:
    """Two hops: host01 (a real sshd) tunnels to the silent port, whose SSH handshake
    never starts. The connect timeout bounds the whole chain, not each hop forever."""
    silent_behind_host01 = {
        "ansible_host": "127.0.0.1",
        "ansible_port": silent_port,
        "console_jump_host": "host01",
    }
    inventory = fleet.inventory(tmp_path / "inv.yaml", extra_hosts={"hidden": silent_behind_host01})
    done, took = exec_cli(fleet, inventory, "hidden:host02", "--json", "--", "true")
    results = by_host(done)
    assert results["host02"]["status"] == "ok"
    assert results["hidden"]["status"] == "unreachable"
    assert f"within {DEFAULT_CONNECT_TIMEOUT:g} s" in results["hidden"]["error"]["message"]
    assert took < DEFAULT_CONNECT_TIMEOUT + 30


def test_a_host_that_is_not_connected_holds_no_fork_slot(
    fleet: Fleet, tmp_path: Path, silent_port: int
) -> None:
    """With --forks 1, a host whose connect hangs must not make the others wait for it."""
    silent = {"ansible_host": "127.0.0.1", "ansible_port": silent_port}
    inventory = fleet.inventory(tmp_path / "inv.yaml", extra_hosts={"silent": silent})
    done, _ = exec_cli(fleet, inventory, "silent:host01", "--json", "--forks", "1", "--", "true")
    results = by_host(done)
    assert results["silent"]["status"] == "unreachable"
    assert results["host01"]["status"] == "ok"
    assert results["host01"]["duration"] < results["silent"]["duration"] / 2


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


LOOPS: dict[str, tuple[dict[str, Any], str]] = {
    "itself by name": ({"all": {"hosts": {"db1": {"console_jump_host": "db1"}}}}, "db1"),
    "a ring of inventory hosts": (
        {
            "all": {
                "hosts": {
                    "a": {"console_jump_host": "b"},
                    "b": {"ansible_ssh_common_args": "-J c"},
                    "c": {"ansible_ssh_common_args": "-o ProxyJump=a"},
                }
            }
        },
        "a",
    ),
    "its own address": (
        {
            "all": {
                "hosts": {
                    "web": {
                        "ansible_host": "127.0.0.1",
                        "ansible_ssh_common_args": "-o ProxyJump=ops@127.0.0.1",
                    }
                }
            }
        },
        "web",
    ),
    "a bastion given its group's ProxyJump": (
        {
            "private": {
                "vars": {"ansible_ssh_common_args": "-o ProxyJump=ops@bastion"},
                "hosts": {"bastion": None, "db01": None},
            }
        },
        "bastion",
    ),
}


@pytest.mark.parametrize("case", LOOPS)
def test_inventory_check_refuses_a_jump_chain_that_loops(tmp_path: Path, case: str) -> None:
    document, host = LOOPS[case]
    inventory = _write(tmp_path / "inv.yaml", document)
    done = subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "inventory", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout
    assert f"{inventory}:" in done.stderr
    assert f"host {host!r}" in done.stderr
    assert "jump chain loops" in done.stderr


def test_a_jump_chain_through_distinct_hosts_is_accepted(tmp_path: Path) -> None:
    document = {
        "all": {
            "hosts": {
                "edge": {"ansible_host": "203.0.113.1"},
                "bastion": {"console_jump_host": "edge"},
                "db": {"ansible_ssh_common_args": "-o ProxyJump=bastion,ops@198.51.100.7:2222"},
            }
        }
    }
    inventory = _write(tmp_path / "inv.yaml", document)
    done = subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "inventory", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_real_jump_pair_still_works_and_a_looping_one_is_refused(
    fleet: Fleet, tmp_path: Path
) -> None:
    if not fleet.pair_hosts:
        fleet.jump_pair()
    jump = next(h for h in fleet.pair_hosts if h.role == "jump")
    inner = next(h for h in fleet.pair_hosts if h.role == "inner")
    inventory = fleet.inventory(tmp_path / "inv.yaml")
    done, _ = exec_cli(fleet, inventory, inner.name, "--json", "--timeout", "30", "--", "hostname")
    assert by_host(done)[inner.name]["stdout"] == f"{inner.name}\n", done.stderr
    looped = fleet.inventory(
        tmp_path / "looped.yaml", host_vars={jump.name: {"console_jump_host": inner.name}}
    )
    done, _ = exec_cli(fleet, looped, inner.name, "--", "hostname")
    assert done.returncode == 2
    assert f"host {inner.name!r}" in done.stderr or f"host {jump.name!r}" in done.stderr


def test_an_ansible_style_jump_to_a_real_bastion_reaches_the_inner_host(
    fleet: Fleet, tmp_path: Path
) -> None:
    """`-o ProxyJump=user@bastion` written the Ansible way: the hop is reached directly
    (with the target's key), not through the same ProxyJump again."""
    if not fleet.pair_hosts:
        fleet.jump_pair()
    jump = next(h for h in fleet.pair_hosts if h.role == "jump")
    inner = next(h for h in fleet.pair_hosts if h.role == "inner")
    path = fleet.inventory(tmp_path / "inv.yaml")
    document = yaml.safe_load(path.read_text())
    inner_vars = document["all"]["children"]["behind_jump"]["hosts"][inner.name]
    del inner_vars["console_jump_host"]
    inner_vars["ansible_ssh_common_args"] = f"-o ProxyJump={fleet.user}@{jump.address}"
    inventory = _write(path, document)
    done, _ = exec_cli(fleet, inventory, inner.name, "--json", "--timeout", "30", "--", "hostname")
    assert by_host(done)[inner.name]["stdout"] == f"{inner.name}\n", done.stdout + done.stderr


# ------------------------------------------------- runbook timeouts and slots (runner)


@pytest.fixture
def silent_env(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> Iterator[JobEnv]:
    silent = {"ansible_host": "127.0.0.1", "ansible_port": silent_port}
    inventory = fleet.inventory(tmp_path / "inv.yaml", extra_hosts={"silent": silent})
    env = make_job_env(fleet, inventory, tmp_path, monkeypatch)
    try:
        yield env
    finally:
        env.close()


async def test_a_runbook_timeout_bounds_the_connect(silent_env: JobEnv) -> None:
    silent_env.runbook("quick.sh", "#!/bin/sh\n# /// runbook\n# timeout = 3\n# ///\necho hi\n")
    async with silent_env.engine() as engine:
        job = await engine.start_job("quick", "silent:host03", {})
        done = await wait_finished(engine, job.id, timeout=60)
    assert done.host_runs["host03"].status is JobStatus.COMPLETED
    silent = done.host_runs["silent"]
    assert silent.status is JobStatus.FAILED
    assert (silent.error_text or "").startswith(
        "timed_out: not connected within the job's 3 s time limit"
    )
    assert done.status is JobStatus.FAILED
    assert done.reason == "timed out after 3 s"


async def test_a_host_run_waiting_to_connect_holds_no_host_slot(silent_env: JobEnv) -> None:
    """max_runs_per_host=1: a second job on the silent host queues behind the first;
    neither may block a job on another host, and both end bounded by their timeout."""
    silent_env.runbook("quick.sh", "#!/bin/sh\n# /// runbook\n# timeout = 4\n# ///\necho hi\n")
    async with silent_env.engine() as engine:
        first = await engine.start_job("quick", "silent", {})
        second = await engine.start_job("quick", "silent:host04", {})
        ended = [await wait_finished(engine, j.id, timeout=60) for j in (first, second)]
    assert ended[1].host_runs["host04"].status is JobStatus.COMPLETED
    for job in ended:
        assert (job.host_runs["silent"].error_text or "").startswith("timed_out: not connected")


# --------------------------------------------------------- item 6: unexpected errors

# A third-party language with a real-world bug: it looks up the host's OS family in a
# table that lacks "unknown" (what a host without ansible_os_family has), so building
# the invocation raises KeyError on that host only.
PICKY_MODULE = """\
from console.runbooks.plugin_api import Invocation, RunbookLanguage, posix_path


class PickyLanguage(RunbookLanguage):
    suffixes = (".picky",)

    def build_invocation(self, runbook, params, target, workdir, webhook_data):
        shell = {"linux": "/bin/sh", "windows": "powershell.exe"}[target.os_family]
        script = "runbook.sh"
        return Invocation(
            command=f"{shell} {posix_path(workdir, script)}",
            files={script: runbook.text.encode()},
        )
"""
PICKY_ENTRY_POINTS = "[opsconsole.runbook_languages]\npicky = opsconsole_picky:PickyLanguage\n"


@pytest.fixture
def picky_env(fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobEnv]:
    """host05 and host07 say they run Linux; host06 says nothing (the plugin's bug)."""
    linux = {"ansible_os_family": "Linux"}
    inventory = fleet.inventory(tmp_path / "inv.yaml", host_vars={"host05": linux, "host07": linux})
    site = make_site(
        tmp_path / "site",
        "opsconsole-picky",
        PICKY_ENTRY_POINTS,
        {"opsconsole_picky.py": PICKY_MODULE},
    )
    env = make_job_env(fleet, inventory, tmp_path, monkeypatch)
    env.env["PYTHONPATH"] = str(site)
    try:
        yield env
    finally:
        env.close()


def test_an_unexpected_error_on_one_host_fails_that_host_alone(picky_env: JobEnv) -> None:
    picky_env.runbook("hello.picky", "echo hello from $(hostname)\n")
    done = picky_env.cli("run", "hello", "host05:host06:host07", "--json")
    job = json.loads(done.stdout)
    runs = {run["host"]: run for run in job["host_runs"]}
    assert runs["host05"]["status"] == "Completed"
    assert runs["host07"]["status"] == "Completed"
    assert runs["host06"]["status"] == "Failed"
    assert runs["host06"]["error"] == "internal_error: KeyError: 'unknown'"
    assert job["status"] == "Failed"
    texts = sorted(record["text"] for record in job["streams"])
    assert texts == ["hello from host05", "hello from host07"]


def test_stopping_a_job_ends_its_processes_on_every_host_after_an_error_on_one(
    picky_env: JobEnv,
) -> None:
    marker = f"picky-{uuid.uuid4().hex[:8]}"
    picky_env.runbook("sleeper.picky", f"echo started\nsh -c 'sleep 300' {marker}\n")
    picky_env.serve()
    started = picky_env.cli("run", "sleeper", "host05:host06:host07", "--no-wait")
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip().split()[-1]
    deadline = time.monotonic() + 60
    while not (
        on_host(picky_env.fleet, "host05", marker) and on_host(picky_env.fleet, "host07", marker)
    ):
        assert time.monotonic() < deadline, "the runbook never started on host05 and host07"
        time.sleep(0.1)
    shown = picky_env.cli_json("jobs", "show", job_id)
    assert shown["status"] == "Running"
    stopped = picky_env.cli("jobs", "stop", job_id)
    assert stopped.returncode == 0, stopped.stderr
    for host in ("host05", "host07"):
        assert gone_on_host(picky_env.fleet, host, marker, timeout=30), f"left on {host}"
    final = picky_env.cli_json("jobs", "show", job_id)
    runs = {run["host"]: run for run in final["host_runs"]}
    assert final["status"] == "Stopped"
    assert runs["host05"]["status"] == runs["host07"]["status"] == "Stopped"
    assert runs["host06"]["status"] == "Failed"
    assert runs["host06"]["error"] == "internal_error: KeyError: 'unknown'"
