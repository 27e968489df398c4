"""The job screen names the worker of each host run once any run of the job ran on a
worker (worker groups); a job the engine ran alone keeps its grid as it always was."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.pilot import Pilot

from console.jobs.events import EngineEvent
from console.jobs.model import Job, JobStatus
from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from tests.tui.seed import console_app, finished_job, row, seed_data_dir, settings_for
from tests.tui.test_changes import on_screen, open_host
from tests.tui.test_panes import ready, until


def two_jobs(data_dir: Path) -> tuple[Job, Job]:
    """Job 1 ran web01 on worker dmz-1 and web02 in the engine; job 2 ran in the engine."""
    on_worker = finished_job(1, "patch.sh", "web", ["web01", "web02"], JobStatus.COMPLETED)
    on_worker.host_runs["web01"].worker = "dmz-1"
    local = finished_job(2, "patch.sh", "web", ["web01", "web02"], JobStatus.COMPLETED)
    seed_data_dir(data_dir, [on_worker, local], with_streams=False)
    return on_worker, local


async def open_job(pilot: Pilot[int], app: OpsConsoleApp, job_id: str) -> JobScreen:
    await ready(pilot)
    await pilot.press("4")
    app.jobs_pane.table.move_to_key(job_id)
    await pilot.press("enter")
    await ready(pilot)
    screen = app.screen
    assert isinstance(screen, JobScreen)
    await until(pilot, lambda: screen.hosts_table.row_count == 2)
    return screen


def titles(screen: JobScreen) -> list[str]:
    return [column.title for column in screen.hosts_table.columns]


async def test_the_grid_names_the_worker_of_each_host_run(tmp_path: Path) -> None:
    on_worker, _ = two_jobs(tmp_path / "data")
    app = console_app(settings_for(tmp_path / "data"))
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_job(pilot, app, on_worker.id)
        assert titles(screen) == ["Host", "Worker", "Status", "Exit", "Error"]
        assert row(screen.hosts_table, "web01")[:3] == ("web01", "dmz-1", "Completed")
        assert row(screen.hosts_table, "web02")[:3] == ("web02", "-", "Completed")
        assert "dmz-1" in screen.hosts_table.render_line(1).text


async def test_a_job_run_by_the_engine_alone_has_no_worker_column(tmp_path: Path) -> None:
    _, local = two_jobs(tmp_path / "data")
    app = console_app(settings_for(tmp_path / "data"))
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_job(pilot, app, local.id)
        assert titles(screen) == ["Host", "Status", "Exit", "Error"]
        assert row(screen.hosts_table, "web01") == ("web01", "Completed", "0", "")


async def test_the_column_appears_when_a_live_run_reports_its_worker(tmp_path: Path) -> None:
    _, local = two_jobs(tmp_path / "data")
    app = console_app(settings_for(tmp_path / "data"))
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_job(pilot, app, local.id)
        run = dataclasses.replace(local.host_runs["web02"], worker="lab-2")
        screen.engine_event(EngineEvent(local.id, run=run))
        await pilot.pause()
        assert titles(screen)[1] == "Worker"
        assert row(screen.hosts_table, "web02")[:2] == ("web02", "lab-2")
        assert row(screen.hosts_table, "web01")[:2] == ("web01", "-")


async def test_the_host_detail_names_its_group_and_the_worker_of_each_recent_run(
    tmp_path: Path,
) -> None:
    two_jobs(tmp_path / "data")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "all:\n  hosts:\n"
        "    web01: {ansible_host: 127.0.0.1, console_worker_group: dmz}\n"
        "    web02: {ansible_host: 127.0.0.2}\n"
    )
    settings = dataclasses.replace(settings_for(tmp_path / "data"), inventory=inventory)
    app = console_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_host(pilot, "web01")
        await until(pilot, lambda: "patch.sh" in on_screen(app))
        text = on_screen(app)
        assert "Runs on    a worker of group dmz" in text
        assert "Completed  patch.sh  on worker dmz-1" in text  # job 1
        assert text.count("patch.sh") == 2  # job 2 ran in the engine: no worker named
        assert text.count("on worker") == 1
