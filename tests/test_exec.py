"""`opsconsole exec` as a user runs it: the real CLI in a subprocess, against the fleet.

The subprocess gets the fleet's HOME (its key, known_hosts and ssh config), so the
client side never touches /root/.ssh.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fleet import Fleet

KEYS = {"host", "status", "exit_code", "stdout", "stderr", "duration", "error"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exec") / "inventory.yaml"
    ghost = {"ansible_host": "127.0.0.1", "ansible_port": _closed_port()}
    return fleet.inventory(path, extra_hosts={"ghost": ghost})


def opsconsole(
    fleet: Fleet, inventory: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "exec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=fleet.ssh_env(),
    )


def test_all_hosts_ok_exits_0_with_prefixed_lines(fleet: Fleet, inventory: Path) -> None:
    done = opsconsole(fleet, inventory, "fleet", "--", "hostname; echo warn >&2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for host in fleet.hosts:
        assert f"{host.name} | {host.name}" in lines
        assert f"{host.name} ! warn" in lines
    assert "20 ok, 0 failed" in lines[-1]


def test_a_failing_host_exits_1_and_is_listed(fleet: Fleet, inventory: Path) -> None:
    done = opsconsole(fleet, inventory, "host01:host02:ghost", "--", 'test "$(hostname)" != host02')
    assert done.returncode == 1
    summary = done.stdout[done.stdout.index("-- 1 ok, 2 failed") :]
    assert "host02: failed: exited with status 1" in summary
    assert "ghost: unreachable:" in summary


def test_json_has_one_object_per_host_with_exact_keys(fleet: Fleet, inventory: Path) -> None:
    done = opsconsole(
        fleet,
        inventory,
        "host01:host02:ghost",
        "--json",
        "--",
        'hostname; [ "$(hostname)" = host01 ] || exit 3',
    )
    assert done.returncode == 1
    results = {r["host"]: r for r in json.loads(done.stdout)}
    assert set(results) == {"host01", "host02", "ghost"}
    assert all(set(r) == KEYS for r in results.values())
    assert results["host01"]["status"] == "ok"
    assert results["host01"]["stdout"] == "host01\n"
    assert results["host01"]["error"] is None
    assert (results["host02"]["status"], results["host02"]["exit_code"]) == ("failed", 3)
    assert results["ghost"]["status"] == "unreachable"
    assert results["ghost"]["error"]["kind"] == "unreachable"
    assert isinstance(results["ghost"]["duration"], float)


def test_timeout_and_output_cap_options(fleet: Fleet, inventory: Path) -> None:
    done = opsconsole(
        fleet,
        inventory,
        "host03",
        "--json",
        "--timeout",
        "1",
        "--max-output",
        "1000",
        "--",
        "head -c 5000 /dev/zero | tr '\\0' x; echo; sleep 30",
    )
    [result] = json.loads(done.stdout)
    assert done.returncode == 1
    assert result["status"] == "timed_out"
    assert result["stdout"].endswith("[... output truncated at 1000 bytes ...]\n")
    assert result["duration"] < 5


@pytest.mark.parametrize(
    "args",
    [
        ("nosuchhost", "--", "true"),  # the pattern matches no host
        ("fleet",),  # no command
        ("fleet", "--forks", "0", "--", "true"),  # bad option
    ],
)
def test_usage_errors_exit_2(fleet: Fleet, inventory: Path, args: tuple[str, ...]) -> None:
    done = opsconsole(fleet, inventory, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr


def test_missing_inventory_exits_2(fleet: Fleet, tmp_path: Path) -> None:
    done = opsconsole(fleet, tmp_path / "absent.yaml", "all", "--", "true")
    assert done.returncode == 2
    assert "absent.yaml" in done.stderr


def test_output_over_the_cap_is_cut_with_a_marker(fleet: Fleet, inventory: Path) -> None:
    """The engine keeps 1 MiB of each stream; `--max-output` keeps less the same way."""
    command = "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo tail >&2"
    for args, marker, limit in (
        ((), "[... output truncated at 1 MiB ...]\n", 1024 * 1024),
        (("--max-output", "65536"), "[... output truncated at 64 KiB ...]\n", 64 * 1024),
    ):
        done = opsconsole(fleet, inventory, "host05", "--json", *args, "--", command)
        [result] = json.loads(done.stdout)
        assert (done.returncode, result["status"]) == (0, "ok")
        assert result["stdout"].endswith(marker)
        assert limit - 1 <= len(result["stdout"]) - len(marker) <= limit
        assert result["stderr"] == "tail\n"


def test_signal_and_streams_are_reported(fleet: Fleet, inventory: Path) -> None:
    """`::warning::` lines go to stderr without their prefix; a killed command is
    `failed` with the kind killed_by_signal."""
    done = opsconsole(
        fleet, inventory, "host06", "--", "echo ::warning::careful; echo ok; kill -9 $$"
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:2] == ["host06 ! careful", "host06 | ok"]
    assert lines[-1] == "   host06: failed: killed by signal KILL"
    raw = opsconsole(fleet, inventory, "host06", "--json", "--", "kill -TERM $$")
    [result] = json.loads(raw.stdout)
    assert (result["status"], result["exit_code"]) == ("failed", None)
    assert result["error"] == {"kind": "killed_by_signal", "message": "killed by signal TERM"}


def test_forks_bounds_the_hosts_running_at_once(fleet: Fleet, inventory: Path) -> None:
    started = time.monotonic()
    done = opsconsole(fleet, inventory, "host07:host08:host09", "--forks", "1", "--", "sleep 1")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 3  # one host after another


def test_exec_is_recorded_as_a_job(fleet: Fleet, inventory: Path, tmp_path: Path) -> None:
    env = {**fleet.ssh_env(), "OPSCONSOLE_DATA_DIR": str(tmp_path / "data")}
    argv = [sys.executable, "-m", "console", "-i", str(inventory)]
    run = [*argv, "exec", "host10", "--", "echo recorded"]
    assert subprocess.run(run, env=env, capture_output=True, timeout=60).returncode == 0
    listed = subprocess.run(
        [*argv, "jobs", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    [job] = json.loads(listed.stdout)
    assert (job["runbook"], job["trigger"], job["status"]) == ("(command)", "cli", "Completed")
