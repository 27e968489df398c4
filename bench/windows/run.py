"""Key-press latency in the console while a command runs on 50 Windows hosts.

    .venv/bin/python bench/windows/run.py [--hosts 50] [--runs 5] [--rounds 5]

Starts a WS-Management test server (a stand-in for Windows hosts, see
tests/windows/wsman_server.py) in its own process, as Windows hosts are other
machines, writes an inventory of `--hosts` WinRM hosts (NTLM over HTTP, message
encryption on) all pointing at it, and runs the real console (the Textual app with its
in-process engine, headless, as the TUI tests do). Each run times key presses that
switch panes ("1" Inventory, "4" Jobs) first with nothing running (the baseline),
then while an `exec` job runs on all the hosts. See README.md next to this file for
what a figure includes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from textual import events  # noqa: E402

from console.settings import Settings  # noqa: E402
from screens.app import OpsConsoleApp  # noqa: E402
from tests.tui.seed import console_app  # noqa: E402
from tests.windows.conftest import PASSWORD, USER  # noqa: E402

# Lines over a few seconds on every host; valid PowerShell (`sleep` is Start-Sleep's
# alias) and valid for the test server's fake PowerShell (bash with Write-* defined).
COMMAND = (
    'Write-Output "one"; Write-Output "two"; Write-Output "three"; sleep 2; Write-Output "done"'
)
# The peer: the same job's shape on as many `local` hosts (asyncio subprocesses, no
# thread), so that what the WinRM threads add shows apart from what any job of 50
# hosts costs the console (its events, the Jobs pane following them).
LOCAL_COMMAND = "echo one; echo two; echo three; sleep 2; echo done"
PACE = 0.05  # seconds between presses: a fast typist, and room for the job's work


@contextmanager
def server_process(root: Path, nice: int = 0) -> Iterator[int]:
    """The test server in a process of its own (its work never takes this process's
    GIL), at `nice` (19: it takes only the CPU the console leaves, closer to Windows
    hosts that are other machines); yields its port."""
    server = [sys.executable, "-m", "tests.windows.wsman_server", str(root), USER, PASSWORD]
    process = subprocess.Popen(
        ["nice", "-n", str(nice), *server],  # `nice` execs the server: the pid is its
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()


def site(tmp: Path, port: int, count: int) -> Settings:
    """An inventory of `count` WinRM hosts (group `windows`) behind the test server,
    and `count` local hosts (group `locals`) for the peer job."""
    host = {
        "ansible_connection": "winrm",
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_winrm_scheme": "http",
        "ansible_user": USER,
        "ansible_password": PASSWORD,
    }
    windows = {f"win{i:02}": host for i in range(count)}
    local = {f"local{i:02}": {"ansible_connection": "local"} for i in range(count)}
    groups = {"windows": {"hosts": windows}, "locals": {"hosts": local}}
    inventory = tmp / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    (tmp / "runbooks").mkdir(exist_ok=True)
    return Settings(inventory, tmp / "data", tmp / "runbooks")


class Key(NamedTuple):
    """A key press and the visible state that shows it was handled."""

    kind: str
    key: str
    shown: Callable[[OpsConsoleApp, int], bool]  # (app, cursor before) -> handled?


def inventory_cursor(app: OpsConsoleApp) -> int:
    return app.inventory.table.cursor


# One round: switch to Jobs and back to Inventory (the pane shown and focused), then
# move the Inventory list's cursor down and up (the host detail follows it).
ROUND = (
    Key("pane switch", "4", lambda app, _: app.active_pane == "jobs"),
    Key("pane switch", "1", lambda app, _: app.active_pane == "inventory"),
    Key("cursor move", "down", lambda app, before: inventory_cursor(app) == before + 1),
    Key("cursor move", "up", lambda app, before: inventory_cursor(app) == before - 1),
)


class Press(NamedTuple):
    at: float  # time.perf_counter() when the key was sent
    handled: float  # seconds until the state changed
    settled: float  # seconds until the screen had also processed what was queued
    drawn: float  # seconds until a frame showing the change had been rendered
    busy: float  # CPU seconds the event loop's thread used meanwhile
    queued: float  # seconds it was ready to run but waited for a core (Linux schedstat)


def queued_seconds() -> float:
    """How long this thread has waited, in all, for a core while ready to run (0 where
    the kernel does not tell): a loop delayed by other processes, not by its work."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class FrameWatch:
    """When the screen first rendered a frame in which `showing()` held: the moment a
    key's answer was drawn (headless, so not yet written to a terminal). Wraps the
    screen's compositor refresh, Textual's one place where a frame is rendered."""

    def __init__(self, app: OpsConsoleApp) -> None:
        self.showing: Callable[[], bool] | None = None
        self.drawn: float | None = None
        screen = app.screen
        render = screen._compositor_refresh

        def watched() -> None:
            render()
            if self.showing is not None and self.showing():
                self.drawn, self.showing = time.perf_counter(), None

        screen._compositor_refresh = watched  # type: ignore[method-assign]

    def watch(self, showing: Callable[[], bool]) -> None:
        self.drawn, self.showing = None, showing


async def press(app: OpsConsoleApp, key: Key, frames: FrameWatch) -> Press:
    """Seconds from the key entering the app's input (the driver's queue, where a
    terminal read puts it) until (handled) the state it changes has changed, until
    (settled) the screen has also processed the messages queued by then (the layout,
    refresh and follow-up messages the key caused), and until (drawn) a frame showing
    the change has been rendered."""
    assert app._driver is not None
    before = inventory_cursor(app)
    event = events.Key(key.key, key.key if len(key.key) == 1 else None)
    event.set_sender(app)
    busy, queued = time.thread_time(), queued_seconds()
    frames.watch(lambda: key.shown(app, before))
    started = time.perf_counter()
    app._driver.send_message(event)
    while not key.shown(app, before):
        await asyncio.sleep(0.001)
    handled = time.perf_counter() - started
    drained = asyncio.Event()
    app.screen.call_later(drained.set)
    await drained.wait()
    settled = time.perf_counter() - started
    while frames.drawn is None:
        await asyncio.sleep(0.001)
    drawn = frames.drawn - started
    busy, queued = time.thread_time() - busy, queued_seconds() - queued
    return Press(started, handled, settled, drawn, busy, queued)


Timings = dict[str, list[Press]]


async def presses(
    app: OpsConsoleApp, frames: FrameWatch, rounds: int, going: Callable[[], bool]
) -> Timings:
    """At least `rounds` rounds of ROUND, one key every PACE seconds, and more while
    `going()` (so that the presses cover the whole job)."""
    times: Timings = {key.kind: [] for key in ROUND}
    done = 0
    while done < rounds or going():
        for key in ROUND:
            times[key.kind].append(await press(app, key, frames))
            await asyncio.sleep(PACE)
        done += 1
    return times


@dataclass
class JobResult:
    timings: Timings  # the presses while the job ran
    started: float  # time.perf_counter() when it was started
    seconds: float  # from its start until the engine reported it finished
    status: str
    hosts_ok: int  # host runs that ended with exit code 0


async def during_job(
    app: OpsConsoleApp, frames: FrameWatch, pattern: str, command: str, rounds: int
) -> JobResult:
    """Start `command` on `pattern` through the engine client (as the command dialog
    does) and press keys until the engine reports the job finished."""
    job = await app.client.start_command(pattern, command, timeout=120)
    running = asyncio.Event()
    running.set()

    async def follow() -> None:
        while not (await app.client.job(job.id)).status.finished:
            await asyncio.sleep(0.1)
        running.clear()

    following = asyncio.ensure_future(follow())
    started = time.perf_counter()
    timings = await presses(app, frames, rounds, running.is_set)
    await following
    took = time.perf_counter() - started
    done = await app.client.job(job.id)
    ok = sum(1 for run in done.host_runs.values() if run.exit_code == 0)
    return JobResult(timings, started, took, done.status.value, ok)


async def one_run(settings: Settings, rounds: int) -> tuple[Timings, JobResult, JobResult]:
    """The console over a fresh data directory: the baseline presses, then presses
    during the job on the Windows hosts, then during the peer job on local hosts."""
    app = console_app(settings)
    async with app.run_test(size=(100, 30)):
        while not app.ready:
            await asyncio.sleep(0.02)
        await app.workers.wait_for_complete()
        frames = FrameWatch(app)
        await presses(app, frames, 1, lambda: False)  # warm-up: each pane's first layout
        idle = await presses(app, frames, rounds, lambda: False)
        windows = await during_job(app, frames, "windows", COMMAND, rounds)
        local = await during_job(app, frames, "locals", LOCAL_COMMAND, rounds)
    return idle, windows, local


def figures(label: str, timings: Timings) -> str:
    """Per key kind: presses, median and max until settled, median until handled; and
    for the presses over 50 ms, what the loop's thread did meanwhile: its CPU time
    (the console's own work: Textual, the engine) and its wait for a core (other
    processes: the WinRM helper, the test server, other load)."""
    lines = []
    for kind, pairs in timings.items():
        settled = [p.settled * 1000 for p in pairs]
        handled = [p.handled * 1000 for p in pairs]
        drawn = [p.drawn * 1000 for p in pairs]
        lines.append(
            f"  {label:9} {kind:11} {len(pairs):3} presses: settled median "
            f"{statistics.median(settled):6.1f} ms, max {max(settled):6.1f} ms, "
            f"over 50 ms {sum(1 for t in settled if t > 50):3}; handled median "
            f"{statistics.median(handled):6.1f} ms; drawn median "
            f"{statistics.median(drawn):6.1f} ms, max {max(drawn):6.1f} ms, "
            f"over 50 ms {sum(1 for t in drawn if t > 50):3}"
        )
        slow = [p for p in pairs if p.settled > 0.05]
        if slow:
            lines.append(
                f"  {'':9} {'':11} over 50 ms: {sum(p.settled for p in slow) * 1000:6.0f} ms "
                f"in all, of which loop thread CPU {sum(p.busy for p in slow) * 1000:5.0f} ms, "
                f"waiting for a core {sum(p.queued for p in slow) * 1000:5.0f} ms"
            )
    return "\n".join(lines)


def slow_presses(job: JobResult) -> str:
    """When the presses over 50 ms came, in seconds after the job's start."""
    slow = sorted(p.at - job.started for ps in job.timings.values() for p in ps if p.settled > 0.05)
    return ", ".join(f"{at:.1f}" for at in slow) or "none"


def merged(into: Timings, more: Timings) -> None:
    for kind, pairs in more.items():
        into.setdefault(kind, []).extend(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="at least this many per condition")
    parser.add_argument(
        "--server-nice", type=int, default=0, help="the test server's CPU priority (0-19)"
    )
    args = parser.parse_args()
    print(
        f"cpus: {os.cpu_count()}, hosts: {args.hosts}, runs: {args.runs}, "
        f"test server at nice {args.server_nice}"
    )
    print(f"command: {COMMAND}")
    totals: dict[str, Timings] = {"no job": {}, "winrm job": {}, "local job": {}}
    with tempfile.TemporaryDirectory(prefix="bench-windows-") as tmp:
        for run in range(1, args.runs + 1):
            work = Path(tmp) / f"run{run}"
            work.mkdir()
            load = os.getloadavg()[0]
            with server_process(work / "C", args.server_nice) as port:
                settings = site(work, port, args.hosts)
                idle, windows, local = asyncio.run(one_run(settings, args.rounds))
            print(f"\nrun {run} (load average {load:.1f}):")
            for label, job in (("winrm job", windows), ("local job", local)):
                print(
                    f"  {label}: {job.status} in {job.seconds:.1f} s, "
                    f"{job.hosts_ok}/{args.hosts} hosts exit 0; presses over 50 ms at "
                    f"{slow_presses(job)} s after its start"
                )
            for label, timings in (("no job", idle), ("winrm job", windows.timings)):
                print(figures(label, timings))
                merged(totals[label], timings)
            print(figures("local job", local.timings))
            merged(totals["local job"], local.timings)
    print(f"\nall runs (load average now {os.getloadavg()[0]:.1f}):")
    for label, timings in totals.items():
        print(figures(label, timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
