"""The console driving the real engine against a real sshd fleet.

Each test starts the app the way `opsconsole` does (an in-process engine on a fresh
data directory, reached through `console.engine.connect.engine_client`) and works it from the
keyboard: run dialog with parameters, validation, stop, rerun on failed hosts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.engine.connect import engine_client
from console.jobs.model import Job, JobStatus
from console.settings import Settings
from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from screens.run_dialog import RunDialog
from tests.fleet import Fleet
from tests.tui.seed import row

GREET = """#!/bin/sh
# /// runbook
# description = "Greet from each host; fail on the host whose address is fail_on"
#
# [parameters.name]
# type = "string"
# required = true
#
# [parameters.count]
# type = "int"
# default = 1
#
# [parameters.fail_on]
# type = "string"
# default = "none"
#
# [parameters.sleep]
# type = "int"
# default = 0
# ///
set -u
addr=$(echo "$SSH_CONNECTION" | cut -d' ' -f3)
i=0
while [ "$i" -lt "$OPS_PARAM_COUNT" ]; do
    echo "hello $OPS_PARAM_NAME from $addr"
    i=$((i + 1))
done
echo "something odd" >&2
sleep "$OPS_PARAM_SLEEP"
if [ "$addr" = "$OPS_PARAM_FAIL_ON" ]; then exit 3; fi
"""


@pytest.fixture
def settings(tmp_path: Path, small_fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HOME", str(small_fleet.home))  # the fleet's key and known_hosts
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "greet.sh").write_text(GREET)
    inventory = small_fleet.inventory(tmp_path / "inventory.yaml")
    return Settings(inventory=inventory, data_dir=tmp_path / "data", runbooks=books)


def make_app(settings: Settings) -> OpsConsoleApp:
    return OpsConsoleApp(client_factory=lambda: engine_client(settings))


async def wait_finished(app: OpsConsoleApp, job_id: str, timeout: float = 60) -> Job:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await app.client.job(job_id)
        if job.status.finished:
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job still {job.status}"
        await asyncio.sleep(0.1)


async def fill_run_dialog(pilot: Pilot[int], app: OpsConsoleApp, **params: str) -> RunDialog:
    await pilot.press("r", *"greet")
    await app.workers.wait_for_complete()
    await pilot.pause()
    dialog = app.screen
    assert isinstance(dialog, RunDialog)
    await pilot.press("enter", *"fleet")  # to the target field
    assert dialog.chosen is not None
    for param in dialog.chosen.parameters:
        await pilot.press("tab")  # the next field, its text selected: typing replaces it
        if param.name in params:
            await pilot.press(*params[param.name])
    return dialog


async def start_from_dialog(pilot: Pilot[int], app: OpsConsoleApp, **params: str) -> Job:
    await fill_run_dialog(pilot, app, **params)
    await pilot.press("ctrl+s")
    for _ in range(50):
        await pilot.pause(0.1)
        if isinstance(app.screen, JobScreen):
            break
    screen = app.screen
    assert isinstance(screen, JobScreen)
    return await app.client.job(screen.job_id)


async def test_run_dialog_starts_a_job_that_completes_on_the_fleet(
    settings: Settings, small_fleet: Fleet
) -> None:
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.inventory.table.row_count == 3
        job = await start_from_dialog(pilot, app, name="ops", count="2")
        assert sorted(job.hosts) == sorted(h.name for h in small_fleet.hosts)
        finished = await wait_finished(app, job.id)
        assert finished.status is JobStatus.COMPLETED
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert all(row(screen.hosts_table, h)[1] == "Completed" for h in job.hosts)
        lines = list(screen.output.lines)
        assert lines.count(("output", f"hello ops from {small_fleet.hosts[0].address}")) == 2
        assert ("error", "something odd") in lines
        await pilot.press("escape", "4")
        assert row(app.jobs_pane.table, job.id)[0] == "Completed"
        assert row(app.inventory.table, job.hosts[0])[6] == "Completed"


async def test_form_shows_the_engines_validation_error(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        dialog = await fill_run_dialog(pilot, app, name="ops", count="many")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert app.screen is dialog  # still open
        error = str(dialog.query_one("#run-error").render())
        assert "count" in error
        assert await app.client.jobs() == []


async def test_stop_a_running_job(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        job = await start_from_dialog(pilot, app, name="ops", sleep="60")
        await pilot.pause(1.0)
        await pilot.press("s")
        finished = await wait_finished(app, job.id)
        assert finished.status is JobStatus.STOPPED
        await pilot.pause(0.3)
        assert "Stopped" in str(app.screen.query_one("#job-header").render())


async def test_rerun_failed_hosts_only(settings: Settings, small_fleet: Fleet) -> None:
    bad = small_fleet.hosts[1]
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        job = await start_from_dialog(pilot, app, name="ops", fail_on=bad.address)
        first = await wait_finished(app, job.id)
        assert first.status is JobStatus.FAILED and first.failed_hosts() == [bad.name]
        await pilot.press("f")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, JobScreen) and screen.job_id != job.id
        again = await wait_finished(app, screen.job_id)
        assert again.hosts == [bad.name] and again.parameters["fail_on"] == bad.address
