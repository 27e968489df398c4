"""`opsconsole exec` with an engine running: the command becomes one of its jobs (seen
by every console), and what exec prints keeps the same shape as the direct fan-out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPSCONSOLE = [sys.executable, "-m", "console"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"    ghost:\n      ansible_host: 127.0.0.1\n      ansible_port: {_free_port()}\n"
    )
    (tmp_path / "runbooks").mkdir()
    return {
        **os.environ,
        "OPSCONSOLE_INVENTORY": str(inventory),
        "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"),
        "OPSCONSOLE_RUNBOOKS": str(tmp_path / "runbooks"),
    }


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [*OPSCONSOLE, "serve", "--listen", f"127.0.0.1:{_free_port()}", "--no-collection"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    socket_path = Path(env["OPSCONSOLE_DATA_DIR"]) / "control.sock"
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
        time.sleep(0.05)
    yield process
    process.terminate()
    process.wait(timeout=60)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPSCONSOLE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_exec_becomes_a_job_of_the_running_engine(
    env: dict[str, str], serve: subprocess.Popen[bytes]
) -> None:
    done = _cli(env, "exec", "localhost", "--", "echo", "hello; echo oops >&2")
    assert done.returncode == 0, done.stderr
    assert "localhost | hello" in done.stdout
    assert "localhost ! oops" in done.stdout
    jobs = json.loads(_cli(env, "jobs", "list", "--json").stdout)
    assert [(j["runbook"], j["trigger"], j["status"]) for j in jobs] == [
        ("(command)", "cli", "Completed")
    ]


def test_attached_exec_json_keeps_the_direct_shape(
    env: dict[str, str], serve: subprocess.Popen[bytes]
) -> None:
    done = _cli(env, "exec", "all", "--json", "--", "echo hi; exit 3")
    assert done.returncode == 1
    results = {r["host"]: r for r in json.loads(done.stdout)}
    assert set(results) == {"localhost", "ghost"}
    for result in results.values():
        assert set(result) == {
            "host",
            "status",
            "exit_code",
            "stdout",
            "stderr",
            "duration",
            "error",
        }
    assert results["localhost"]["status"] == "failed"
    assert results["localhost"]["exit_code"] == 3
    assert results["localhost"]["stdout"] == "hi\n"
    assert results["localhost"]["error"]["kind"] == "exited_non_zero"
    assert results["ghost"]["status"] == "unreachable"
    assert results["ghost"]["stdout"] == ""


SAME_EITHER_WAY = "echo ::warning::careful; echo 0123456789abcdef0123456789; kill -9 $$"


def _without_durations(stdout: str) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "duration"} for r in json.loads(stdout)]


def test_direct_and_attached_exec_give_the_same_results(
    env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Stream classification, --max-output, a killed command and an unreachable host."""
    args = ("exec", "all", "--json", "--max-output", "24", "--", SAME_EITHER_WAY)
    direct = _cli(env, *args)
    request.getfixturevalue("serve")
    attached = _cli(env, *args)
    assert (direct.returncode, attached.returncode) == (1, 1)
    assert _without_durations(direct.stdout) == _without_durations(attached.stdout)
    results = {r["host"]: r for r in json.loads(direct.stdout)}
    assert results["localhost"]["stdout"] == (
        "0123456789abcdef0123456\n[... output truncated at 24 bytes ...]\n"
    )
    assert results["localhost"]["stderr"] == "careful\n"
    assert results["localhost"]["error"]["kind"] == "killed_by_signal"
    assert results["ghost"]["status"] == "unreachable"


def test_a_command_meanwhile_attaches_to_execs_own_engine(env: dict[str, str]) -> None:
    """exec's one-shot engine serves its control API when another command asks for it:
    `jobs list` started meanwhile waits for it and sees the exec job running."""
    running = subprocess.Popen(
        [*OPSCONSOLE, "exec", "localhost", "--", "sleep 6"], env=env, cwd=ROOT
    )
    try:
        time.sleep(1)
        listed = _cli(env, "jobs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [(j["runbook"], j["status"]) for j in json.loads(listed.stdout)] == [
            ("(command)", "Running")
        ]
    finally:
        assert running.wait(timeout=60) == 0
