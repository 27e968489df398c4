"""The CLI in front of hosts it does not trust, and followers that must always end.

Escapes: a host (local or over SSH) printing terminal control sequences cannot clear
the operator's screen, set the window title or overwrite lines: human output shows them
escaped, `--json` keeps the text exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console.engine.core import Engine
from console.jobs.model import Job
from console.settings import Settings
from tests.fleet import Fleet
from tests.jobs.helpers import (  # noqa: F401 (job_env and jobs_inventory are fixtures)
    OPSCONSOLE,
    JobEnv,
    job_env,
    jobs_inventory,
    make_job_env,
)

pytestmark = pytest.mark.timeout(400)

# Clear screen, set the window title, a UTF-8 encoded C1 CSI (U+009B), backspaces over
# text and a carriage return that would overwrite the line, then a tab (kept).
PRINTF = r"printf '\033[2J\033]0;pwned\007\302\2331m back\010\010ZZ\rover\there\n'"
SENT = "\x1b[2J\x1b]0;pwned\x07\x9b1m back\x08\x08ZZ\rover\there"
SHOWN = r"\x1b[2J\x1b]0;pwned\x07\x9b1m back\x08\x08ZZ\x0dover" + "\there"


def assert_no_controls(text: str) -> None:
    """Nothing a terminal acts on, but the tab and the line ends."""
    found = {c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0}
    assert not found, f"control characters reached the terminal: {found!r}"


def test_exec_shows_a_local_and_an_ssh_hosts_escapes_escaped(job_env: JobEnv) -> None:  # noqa: F811
    ssh_host = job_env.fleet.hosts[0].name
    pattern = f"localhost,{ssh_host}"
    human = job_env.cli("exec", pattern, "--", PRINTF + "; " + PRINTF.replace("\\n'", "\\n' >&2"))
    assert human.returncode == 0, human.stderr
    assert_no_controls(human.stdout + human.stderr)
    lines = {tuple(line.split(maxsplit=2)) for line in human.stdout.splitlines()}
    for host in ("localhost", ssh_host):
        assert (host, "|", SHOWN) in lines
        assert (host, "!", SHOWN) in lines
    raw = job_env.cli("exec", pattern, "--json", "--", PRINTF)
    results = {r["host"]: r for r in json.loads(raw.stdout)}
    assert {h: r["stdout"] for h, r in results.items()} == {
        "localhost": SENT + "\n",
        ssh_host: SENT + "\n",
    }


ESCAPING = f"""#!/bin/sh
# /// runbook
# [parameters.note]
# type = "string"
# default = ""
# ///
{PRINTF}
{PRINTF} >&2
exit 3
"""


def test_attached_run_exec_and_jobs_show_escape_and_json_keeps_the_text(
    job_env: JobEnv,  # noqa: F811
) -> None:
    job_env.runbook("escaping.sh", ESCAPING)
    job_env.serve()
    ssh_host = job_env.fleet.hosts[1].name
    note = "\x1b]0;pwned\x07" + "x" * 5000
    ran = job_env.cli("run", "escaping", f"localhost,{ssh_host}", "-p", f"note={note}")
    assert ran.returncode == 1, ran.stderr
    assert_no_controls(ran.stdout + ran.stderr)
    out_lines = {tuple(line.split(maxsplit=2)) for line in ran.stdout.splitlines()}
    err_lines = {tuple(line.split(maxsplit=2)) for line in ran.stderr.splitlines()}
    for host in ("localhost", ssh_host):
        assert (host, "|", SHOWN) in out_lines
        assert (host, "!", SHOWN) in err_lines

    (job,) = job_env.cli_json("jobs", "list")
    shown = job_env.cli("jobs", "show", job["id"])
    assert_no_controls(shown.stdout)
    assert f"localhost ! {SHOWN}" in shown.stdout
    # The 5 KB parameter is cut to 200 characters and says how long it is.
    (note_line,) = [line for line in shown.stdout.splitlines() if "note =" in line]
    assert note_line == "    note = " + r"\x1b]0;pwned\x07" + "x" * 190 + "… (5010 bytes)"

    exact = job_env.cli_json("jobs", "show", job["id"])
    assert exact["parameters"]["note"] == note
    texts = {(r["host"], r["stream"]): r["text"] for r in exact["streams"]}
    assert texts[("localhost", "output")] == texts[(ssh_host, "error")] == SENT

    attached = job_env.cli("exec", ssh_host, "--", PRINTF)
    assert attached.returncode == 0, attached.stderr
    assert_no_controls(attached.stdout + attached.stderr)
    assert (ssh_host, "|", SHOWN) in {
        tuple(line.split(maxsplit=2)) for line in attached.stdout.splitlines()
    }


# --- followers: `run` attached to `serve` ends when its job ends, whatever it missed ---

FOLLOWED_HOSTS = 200
FOLLOWED_LINES = 40  # 200 x 40 lines: more than a pipe holds, so an unread follower blocks
BURST_HOSTS = 12_000  # WinRM hosts: each host run fails at once (no process runs)
CHATTY = f"""# /// runbook
# description = "print {FOLLOWED_LINES} lines, then wait for the gate file"
# [parameters.gate]
# type = "string"
# [parameters.marks]
# type = "string"
# ///
import os
import pathlib
import time

for number in range({FOLLOWED_LINES}):
    print(f"line {{number}}", flush=True)
pathlib.Path(os.environ["OPS_PARAM_MARKS"], os.path.basename(os.environ["OPS_WORKDIR"])).touch()
while not os.path.exists(os.environ["OPS_PARAM_GATE"]):
    time.sleep(0.1)
"""
NOOP = '#!/bin/sh\n# /// runbook\n# description = "nothing"\n# ///\ntrue\n'


def _inventory(path: Path, groups: dict[str, tuple[int, str]]) -> Path:
    """Groups of `count` hosts named g00000... on one connection each."""
    text = "all:\n  children:\n"
    for group, (count, connection) in groups.items():
        hosts = "".join(f"        {group[0]}{n:05d}: {{}}\n" for n in range(count))
        text += (
            f"    {group}:\n      vars:\n        ansible_connection: {connection}\n"
            f"      hosts:\n{hosts}"
        )
    path.write_text(text)
    return path


def _stalled_events_client(data_dir: Path) -> socket.socket:
    """A real attached client that subscribes to events and never reads them."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(str(data_dir / "control.sock"))
    client.sendall(b"GET /events HTTP/1.1\r\nHost: engine\r\n\r\n")
    return client


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.3)


def test_a_follower_that_lost_events_still_ends_with_the_jobs_exit_code(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`opsconsole run` stops reading (nobody reads its output: its pipe is full) while a
    12,000-host burst floods the engine's events: the engine drops events for it, the
    final one of its job among them. Once read again, it still ends, exit 0, having
    shown every line of its job once."""
    groups = {"followed": (FOLLOWED_HOSTS, "local"), "burst": (BURST_HOSTS, "winrm")}
    env = make_job_env(fleet, _inventory(tmp_path / "hosts.yaml", groups), tmp_path, monkeypatch)
    gate, marks = tmp_path / "gate", tmp_path / "marks"
    marks.mkdir()
    try:
        env.runbook("chatty.py", CHATTY)
        env.runbook("noop.sh", NOOP)
        env.serve()
        stalled = _stalled_events_client(env.settings.data_dir)
        params = ["-p", f"gate={gate}", "-p", f"marks={marks}"]
        follower = subprocess.Popen(
            [str(OPSCONSOLE), "run", "chatty", "followed", *params],
            env=env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait(lambda: len(list(marks.iterdir())) == FOLLOWED_HOSTS, "every host printed")
        burst = env.cli("run", "noop", "burst", "--no-wait").stdout.strip()
        _wait(lambda: env.cli_json("jobs", "show", burst)["ended"] is not None, "burst ended")
        gate.touch()
        _wait(
            lambda: env.cli_json("jobs", "list", "--runbook", "chatty")[0]["status"] == "Completed",
            "the followed job completed",
        )
        out, err = follower.communicate(timeout=120)
        stalled.close()
    finally:
        if "follower" in locals() and follower.poll() is None:
            follower.kill()
        env.close()
    assert follower.returncode == 0, err[-2000:]
    assert f"Completed: {FOLLOWED_HOSTS} completed" in err
    shown = Counter(out.splitlines())
    expected = {
        f"f{n:05d} | line {i}" for n in range(FOLLOWED_HOSTS) for i in range(FOLLOWED_LINES)
    }
    assert set(shown) == expected and set(shown.values()) == {1}


# --- one host's change costs the event stream the same at 10 and 10,000 hosts ---


LINE_LIMIT = 64 * 1024 * 1024  # a job-level line carries the whole 10,000-host job


async def _host_event_sizes(fleet: Fleet, tmp_path: Path, count: int, wanted: int) -> list[int]:
    """The bytes of the first `wanted` `GET /events` lines that report one host run's
    change, for a job on `count` hosts (WinRM hosts: each host run fails at once, no
    process runs)."""
    settings = Settings(
        inventory=_inventory(tmp_path / f"hosts{count}.yaml", {"flood": (count, "winrm")}),
        data_dir=tmp_path / f"data{count}",
        runbooks=tmp_path,
    )
    sizes: list[int] = []
    async with Engine(settings) as engine:
        connector = aiohttp.UnixConnector(path=str(settings.data_dir / "control.sock"))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get("http://engine/events") as response,
        ):
            assert json.loads(await response.content.readline()) == {"ready": True}
            await engine.start_command("flood", "true")
            while len(sizes) < wanted:
                line = await asyncio.wait_for(
                    response.content.readline(max_line_length=LINE_LIMIT), 120
                )
                event = json.loads(line)
                if event["job"] is None and not event["records"]:
                    sizes.append(len(line))
    return sizes


async def test_one_host_change_is_a_small_event_whatever_the_jobs_size(
    fleet: Fleet, tmp_path: Path
) -> None:
    small = await _host_event_sizes(fleet, tmp_path, 10, 10)  # each host run fails at connect
    # The first 2,000 (a burst of 20,000 may be cut at the stream's 10,000-event backlog).
    large = await _host_event_sizes(fleet, tmp_path, 10_000, 2_000)
    assert max(large) < 600
    assert max(large) <= max(small) + 8  # host names are as long; times may differ


# --- who started a job: from what the engine can check, never from the client's word ---

PARENT = """#!/bin/sh
# /// runbook
# description = "start the child runbook and wait for it"
# ///
opsconsole run child localhost
"""
CHILD = '#!/bin/sh\n# /// runbook\n# description = "a child"\n# ///\necho "child"\n'
GATED = """#!/bin/sh
# /// runbook
# description = "wait for the gate file"
# [parameters.gate]
# type = "string"
# ///
while [ ! -e "$OPS_PARAM_GATE" ]; do sleep 0.1; done
"""


def _post_control(data_dir: Path, path: str, body: dict[str, object]) -> tuple[int, Any]:
    """One request to the control socket, as any local client could send it."""

    async def go() -> tuple[int, Any]:
        connector = aiohttp.UnixConnector(path=str(data_dir / "control.sock"))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(f"http://engine{path}", json=body) as response,
        ):
            return response.status, await response.json()

    return asyncio.run(go())


def test_every_job_says_who_started_it(job_env: JobEnv) -> None:  # noqa: F811
    me = pwd.getpwuid(os.getuid()).pw_name
    for name, text in (("parent.sh", PARENT), ("child.sh", CHILD), ("noop.sh", NOOP)):
        job_env.runbook(name, text)
    job_env.serve()

    parent = json.loads(job_env.cli("run", "parent", "localhost", "--json").stdout)
    (child,) = job_env.cli_json("jobs", "list", "--runbook", "child")
    assert (parent["started_by"], child["started_by"]) == (me, f"job:{parent['id']}")

    url = job_env.cli("webhooks", "create", "deploy", "noop", "localhost").stdout.strip()
    with urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST")) as answer:
        (hooked,) = json.loads(answer.read())["JobIds"]
    _wait(lambda: job_env.cli_json("jobs", "show", hooked)["ended"] is not None, "hook ran")
    assert job_env.cli_json("jobs", "show", hooked)["started_by"] == "webhook:deploy"

    start = datetime.now(UTC).isoformat(timespec="seconds")
    every_2s = ["--cron", "* * * * * */2", "--start", start]
    created = job_env.cli("schedules", "create", "nightly", "noop", "localhost", *every_2s)
    assert created.returncode == 0, created.stderr
    _wait(
        lambda: any(j["trigger"] == "schedule" for j in job_env.cli_json("jobs", "list")),
        "a scheduled run",
    )
    scheduled = {
        j["started_by"] for j in job_env.cli_json("jobs", "list") if j["trigger"] == "schedule"
    }
    assert scheduled == {"schedule:nightly"}

    # A client's own word counts for nothing: the kernel says who is connected.
    status, claimed = _post_control(
        job_env.settings.data_dir,
        "/jobs",
        {"runbook": "noop", "pattern": "localhost", "started_by": "mallory"},
    )
    assert (status, claimed["started_by"]) == (201, me)

    listed = job_env.cli("jobs", "list").stdout.splitlines()
    assert listed[0].split()[5:7] == ["STARTED", "BY"]
    assert {line.split()[5] for line in listed[1:]} == {
        me,
        f"job:{parent['id']}"[:16],
        "webhook:deploy",
        "schedule:nightly",
    }
    shown = job_env.cli("jobs", "show", child["id"]).stdout
    assert f"started by job:{parent['id']}" in shown


def test_only_a_running_parent_with_its_token_may_start_a_child(
    job_env: JobEnv,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`trigger: parent` skips `max_jobs`: a client saying so without the parent's
    per-job token (given only to the parent's own local host runs) is refused."""
    job_env.runbook("gated.sh", GATED)
    job_env.runbook("noop.sh", NOOP)
    job_env.serve("--max-jobs", "1")
    gate = tmp_path / "gate"
    running = job_env.cli("run", "gated", "localhost", "-p", f"gate={gate}", "--no-wait")
    gated = running.stdout.strip()
    _wait(lambda: job_env.cli_json("jobs", "show", gated)["status"] == "Running", "gated runs")

    for forged in ({"parent_token": "0" * 32}, {}, {"trigger_ref": "nonexistent"}):
        body = {"runbook": "noop", "pattern": "localhost", "trigger": "parent"}
        status, answer = _post_control(
            job_env.settings.data_dir, "/jobs", {**body, "trigger_ref": gated, **forged}
        )
        assert status == 400, answer
        assert "not a running job that may start children" in answer["error"]["message"]
    status, answer = _post_control(
        job_env.settings.data_dir,
        "/jobs",
        {"runbook": "noop", "pattern": "localhost", "trigger": "schedule", "trigger_ref": "x"},
    )
    assert (
        status == 400 and "may not start a job as trigger 'schedule'" in answer["error"]["message"]
    )
    jobs = job_env.cli_json("jobs", "list")
    assert [(j["runbook"], j["status"]) for j in jobs] == [("gated", "Running")]
    gate.touch()
    _wait(lambda: job_env.cli_json("jobs", "show", gated)["status"] == "Completed", "gate opened")


def test_a_job_stored_before_started_by_reads_as_unknown() -> None:
    stored = {"id": "01", "runbook": "r", "pattern": "all", "hosts": [], "status": "Completed"}
    job = Job.from_dict({**stored, "created": 0.0})
    assert job.started_by == "unknown"
    assert job.to_dict()["started_by"] == "unknown"
