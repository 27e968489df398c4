"""The SSH test fleet itself: real sshd hosts, reached with the real OpenSSH client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import tests.fleet as fleet_module
from tests.fleet import Fleet

REPO = Path(__file__).resolve().parent.parent


def _processes_in_pid_namespaces(namespaces: set[str]) -> set[int]:
    """PIDs (not zombies) of every process living in one of the given PID namespaces."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            namespace = os.readlink(f"/proc/{entry.name}/ns/pid")
        except OSError:
            continue
        if namespace in namespaces and fleet_module._start_time(int(entry.name)) is not None:
            found.add(int(entry.name))
    return found


def _gone(pids: set[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(fleet_module._start_time(pid) is None for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_twenty_hosts_answer_over_ssh_with_distinct_hostnames(fleet: Fleet) -> None:
    assert fleet.isolated is (os.geteuid() == 0)
    assert len(fleet.hosts) == 20
    assert len({(h.address, h.port) for h in fleet.hosts}) == 20
    env = fleet.ssh_env()
    clients = {}
    for host in fleet.hosts:
        # Plain OpenSSH options, no config file: exactly what the fixture promises.
        argv = ["ssh", "-F", "/dev/null", "-i", str(fleet.client_key)]
        argv += ["-o", f"UserKnownHostsFile={fleet.known_hosts}", "-o", "BatchMode=yes"]
        argv += ["-o", "StrictHostKeyChecking=yes", "-p", str(host.port)]
        argv += [f"{fleet.user}@{host.address}", "hostname; id -un"]
        clients[host.name] = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    answers = {name: client.communicate(timeout=30) for name, client in clients.items()}
    for name, (out, err) in answers.items():
        assert clients[name].returncode == 0, err
        assert out.split() == [name, "root"]


def test_a_file_written_on_one_host_is_absent_elsewhere(fleet: Fleet) -> None:
    marker = f"/etc/fleet-marker-{uuid.uuid4().hex}"
    fleet.host("host01").run(f"echo written-on-host01 > {marker}", check=True)
    try:
        assert fleet.ssh("host01", f"cat {marker}").stdout == "written-on-host01\n"
        elsewhere = fleet.ssh("host02", f"cat {marker}")
        assert elsewhere.returncode == 1
        assert "No such file" in elsewhere.stderr
        assert not Path(marker).exists()
    finally:
        fleet.host("host01").run(f"rm -f {marker}")


def test_a_host_sees_only_its_own_processes(fleet: Fleet) -> None:
    listing = fleet.host("host03").run("ps -e -o comm=", check=True).stdout.split()
    assert "sshd" in listing
    assert "pytest" not in listing and "python" not in listing
    assert len(listing) < 10


def test_a_stopped_host_is_unreachable_and_comes_back_with_its_files(small_fleet: Fleet) -> None:
    small_fleet.ssh("host02", "echo kept > /opt/kept", timeout=30).check_returncode()
    small_fleet.stop_host("host02")
    down = small_fleet.ssh("host02", "true")
    assert down.returncode == 255
    assert "Connection refused" in down.stderr
    assert small_fleet.ssh("host01", "hostname").stdout == "host01\n"
    small_fleet.start_host("host02")
    back = small_fleet.ssh("host02", "hostname; cat /opt/kept")
    assert back.stdout == "host02\nkept\n", back.stderr


def test_a_rotated_host_key_is_refused_by_strict_ssh(small_fleet: Fleet) -> None:
    old_line = small_fleet.host("host01").host_key_line
    small_fleet.rotate_host_key("host01")
    assert small_fleet.host("host01").host_key_line != old_line
    refused = small_fleet.ssh("host01", "hostname")
    assert refused.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    assert small_fleet.ssh("host02", "hostname").stdout == "host02\n"
    small_fleet.refresh_known_hosts()
    assert small_fleet.ssh("host01", "hostname").stdout == "host01\n"


def test_jump_pair_inner_host_is_reachable_only_through_the_jump(small_fleet: Fleet) -> None:
    jump, inner = small_fleet.jump_pair()
    assert small_fleet.ssh(jump.name, "hostname").stdout == f"{jump.name}\n"
    via_jump = small_fleet.ssh(inner.name, "hostname")
    assert via_jump.stdout == f"{inner.name}\n", via_jump.stderr
    direct = subprocess.run(
        ["ssh", "-F", str(small_fleet.ssh_config), "-o", "ProxyJump=none", inner.name, "hostname"],
        capture_output=True, text=True, timeout=30, env=small_fleet.ssh_env(),
    )  # fmt: skip
    assert direct.returncode == 255
    assert "Accepted publickey for root" in inner.log.read_text()


def test_inventory_lists_every_host_with_its_connection_vars(fleet: Fleet, tmp_path: Path) -> None:
    path = fleet.inventory(
        tmp_path / "inventory.yaml",
        extra_hosts={"ghost": {"ansible_host": "127.0.0.1", "ansible_port": 1}},
        host_vars={"host05": {"console_tags": "web"}},
        group_vars={"console_host_key_policy": "strict"},
    )
    document = yaml.safe_load(path.read_text())
    group = document["all"]["children"]["fleet"]
    assert list(group["hosts"]) == [h.name for h in fleet.hosts]
    host05 = group["hosts"]["host05"]
    assert host05["ansible_host"] == fleet.host("host05").address
    assert host05["ansible_port"] == fleet.host("host05").port
    assert host05["ansible_user"] == "root"
    assert host05["ansible_ssh_private_key_file"] == str(fleet.client_key)
    assert host05["console_tags"] == "web"
    assert group["vars"]["console_host_key_policy"] == "strict"
    assert document["all"]["hosts"]["ghost"]["ansible_port"] == 1


def test_teardown_kills_every_process_of_the_fleet(fleet_factory: Callable[..., Fleet]) -> None:
    started = fleet_factory(3)
    # A process a user left running on a host must die with the host too.
    started.ssh("host01", "nohup sleep 600 >/dev/null 2>&1 &").check_returncode()
    namespaces = {os.readlink(f"/proc/{h.pid}/ns/pid") for h in started.hosts}
    inside = _processes_in_pid_namespaces(namespaces)
    pids = started.pids()
    assert len(inside) >= 4  # three sshd + the sleep
    started.stop()
    assert _gone(pids | inside)
    assert not _processes_in_pid_namespaces(namespaces)


def test_plain_mode_runs_sshd_without_isolation(fleet_factory: Callable[..., Fleet]) -> None:
    plain = fleet_factory(2, isolated=False)
    assert (plain.isolated, plain.mode) == (False, "plain")
    machine = socket.gethostname()
    assert plain.ssh("host02", "hostname").stdout == f"{machine}\n"


def test_hosts_die_with_the_process_that_started_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private registry, so that no other test run's reaper races ours.
    monkeypatch.setattr(fleet_module, "REGISTRY", tmp_path / "registry")
    workdir = tmp_path / "fleet"
    starter = subprocess.Popen(
        [sys.executable, "-m", "tests.fleet", "start", "--count", "2", "--dir", str(workdir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OPSCONSOLE_FLEET_REGISTRY": str(tmp_path / "registry")},
    )  # fmt: skip
    assert starter.stdout is not None
    inventory = starter.stdout.readline().strip()
    assert inventory == str(workdir / "inventory.yaml")
    state = json.loads((workdir / "fleet.json").read_text())
    pids = {pid for pid, _start in state["processes"]}
    assert all(fleet_module._start_time(pid) is not None for pid in pids)
    starter.send_signal(signal.SIGKILL)  # no teardown code runs: the kernel must do it
    starter.wait()
    assert _gone(pids)
    assert fleet_module.reap_stale_fleets() == [str(workdir)]


def test_stale_fleet_reaper_kills_only_recorded_processes_of_dead_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "REGISTRY", tmp_path / "registry")
    (tmp_path / "registry").mkdir()
    orphan = subprocess.Popen(["sleep", "600"])
    bystander = subprocess.Popen(["sleep", "600"])
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    try:
        record = {
            "owner": [dead_owner.pid, 1],
            "workdir": "/tmp/crashed",
            "processes": [[orphan.pid, fleet_module._start_time(orphan.pid)]],
        }
        (tmp_path / "registry" / "crashed.json").write_text(json.dumps(record))
        live = dict(record, owner=[os.getpid(), fleet_module._start_time(os.getpid())])
        live["processes"] = [[bystander.pid, fleet_module._start_time(bystander.pid)]]
        (tmp_path / "registry" / "live.json").write_text(json.dumps(live))
        assert fleet_module.reap_stale_fleets() == ["/tmp/crashed"]
        assert orphan.wait(timeout=30) == -signal.SIGKILL
        assert bystander.poll() is None
        assert [p.name for p in (tmp_path / "registry").iterdir()] == ["live.json"]
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()


def test_stop_command_stops_a_fleet_started_from_the_command_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tests.fleet"]
    starter = subprocess.Popen(
        [*command, "start", "--count", "2", "--dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert starter.stdout is not None
    starter.stdout.readline()
    pids = {pid for pid, _start in json.loads((tmp_path / "fleet.json").read_text())["processes"]}
    subprocess.run([*command, "stop", "--dir", str(tmp_path)], cwd=REPO, check=True, timeout=30)
    assert starter.wait(timeout=60) == 0
    assert _gone(pids)
