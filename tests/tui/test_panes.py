"""Pilot tests of the console over the real engine and a seeded data directory.

The engine runs in the app's loop exactly as under `opsconsole`; the history comes from
tests/tui/seed.py. Jobs that really run use the inventory's `build` host
(`ansible_connection: local`), so no SSH server is needed here (test_engine.py drives
an sshd fleet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.errors import ConfigError
from console.jobs.model import Job, JobStatus
from console.settings import Settings
from console.store import Store
from screens.app import PANES, OpsConsoleApp
from screens.host_detail import HostDetail
from screens.job_screen import JobScreen
from screens.keymap import load_keymap
from screens.modals import HelpScreen, QuitDialog
from screens.pane_bar import PaneBar
from screens.run_dialog import CommandDialog, RunDialog
from screens.vtable import VirtualTable
from tests.tui.seed import (
    HOST_COUNT,
    console_app,
    finished_job,
    row,
    seed_data_dir,
    settings_for,
)


async def ready(pilot: Pilot[int]) -> None:
    """Until the engine is up, the lists are loaded and no worker is busy."""
    app = pilot.app
    assert isinstance(app, OpsConsoleApp)
    while not app.ready:
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[int], check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await pilot.pause(0.05)


def text_of(app: OpsConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_number_keys_switch_panes(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        bar = app.query_one(PaneBar)
        for key, pane in (("4", "jobs"), ("2", "drift"), ("3", "updates"), ("1", "inventory")):
            await pilot.press(key)
            await pilot.pause()
            assert app.active_pane == pane and bar.active == pane
            shown = [name for name, _ in PANES if app.query_one(f"#{name}").region]
            assert shown == [pane]
        await pilot.press("3")
        assert app.focused is app.updates.table


async def test_clicking_a_pane_name_shows_that_pane(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        # " 1 Inventory  2 Drift  3 Updates  4 Jobs ": "4 Jobs" spans columns 33 to 40.
        assert await pilot.click(PaneBar, offset=(35, 0))
        await pilot.pause()
        assert app.active_pane == "jobs" and app.query_one(PaneBar).active == "jobs"
        assert app.focused is app.jobs_pane.table


async def test_inventory_shows_each_hosts_last_job_from_history(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        table = app.inventory.table
        assert table.row_count == HOST_COUNT
        assert row(table, "web03")[6] == "Failed"  # the failed restart-service run
        assert row(table, "stage-web01")[6] == "Stopped"
        assert row(table, "win01")[6] == "-"  # never in a job
        assert row(table, "build")[2:4] == ("build", "local")


async def test_plain_filter_matches_name_or_group(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"db")
        assert app.inventory.table.keys == ["db01", "db02"]
        await pilot.press("escape")  # leaves the field
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert app.inventory.table.row_count == HOST_COUNT
        await pilot.press("slash", *"staging")
        assert app.inventory.table.keys == ["stage-web01"]


async def test_pattern_filter_goes_through_the_engine(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"web:&prod:!web03")
        assert app.inventory.table.keys == ["web01", "web02"]
        await pilot.press(*":&")
        status = text_of(app, "#inventory-status")
        assert "Pattern error" in status and "needs a name after '&'" in status
        assert app.inventory.table.keys == ["web01", "web02"]  # the last good result stays


async def test_probe_fills_reachability_and_os(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert row(app.inventory.table, "build")[4] == "?"
        await pilot.press("p")
        await app.workers.wait_for_complete()
        build = row(app.inventory.table, "build")
        assert build[4] == "up" and build[5].startswith("Linux")  # `uname -sr` ran locally
        web01 = row(app.inventory.table, "web01")
        assert web01[4] == "down" and web01[5].startswith("unreachable")


async def test_host_detail_shows_vars_groups_and_jobs(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.inventory.table.move_to_key("db01")
        await pilot.press("enter")
        await ready(pilot)
        assert isinstance(app.screen, HostDetail)
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "ansible_user: postgres" in text and "db, prod" in text
        assert "patch-report" in text and "(command)" in text
        assert "restart-service" not in text  # db01 was not in those jobs
        await pilot.press("escape")
        assert not isinstance(app.screen, HostDetail)


async def test_jobs_list_opens_a_job_with_coloured_streams(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("4", "down", "enter")
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert screen.hosts_table.keys == ["web01", "web02", "web03"]
        assert ("warning", "config test printed 1 warning") in screen.output.lines
        await pilot.press("down", "down")  # web03 failed
        assert screen.selected == "web03"
        assert ("error", "Job for nginx failed.") in screen.output.lines


def cell(table: VirtualTable, key: str, column: int) -> str | None:
    """A row's cell, None while the row is not there yet."""
    found = table.row(key)
    return None if found is None else found[column]


async def test_a_real_job_updates_lists_and_output_live(app: OpsConsoleApp, tmp_path: Path) -> None:
    """`x` on the local host: the job screen, the Jobs list and the inventory follow it.
    The command goes on only when the test removes its gate file, so "Running" is seen
    however slow the machine."""
    gate = tmp_path / "gate"
    gate.touch()
    command = f"echo live 1; while [ -e {gate} ]; do sleep 0.05; done; echo live 2 >&2"
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("x", *"build", "enter", *command, "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(pilot, lambda: ("output", "live 1") in screen.output.lines)
        await until(pilot, lambda: cell(app.jobs_pane.table, screen.job_id, 0) == "Running")
        await until(pilot, lambda: cell(app.inventory.table, "build", 6) == "Running")
        gate.unlink()
        await until(pilot, lambda: ("error", "live 2") in screen.output.lines)
        await until(pilot, lambda: row(app.jobs_pane.table, screen.job_id)[0] == "Completed")
        assert row(app.inventory.table, "build")[6] == "Completed"
        assert "Completed" in text_of(app, "#job-header")


async def test_jobs_filter_by_status(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("4", "slash", *"completed")
        await app.workers.wait_for_complete()
        rows = [row(app.jobs_pane.table, k) for k in app.jobs_pane.table.keys]
        assert len(rows) == 3 and all(r is not None and r[0] == "Completed" for r in rows)
        await pilot.press("escape", "escape")
        await app.workers.wait_for_complete()
        assert app.jobs_pane.table.row_count == 5


async def test_run_dialog_generates_the_form_and_counts_hosts(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("r", *"rstsrv")  # fuzzy: restart-service
        await ready(pilot)
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        assert dialog.chosen is not None and dialog.chosen.name == "restart-service"
        assert [i.id for i in dialog.query(".param")] == [
            "param-service",
            "param-delay",
            "param-mode",
        ]
        assert "3 hosts match" in text_of(app, "#run-count")  # the runbook's target "web"
        await pilot.press("escape")
        assert not isinstance(app.screen, RunDialog)


async def test_exec_dialog_refuses_an_empty_command(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("x", *"db", "enter", "enter")
        dialog = app.screen
        assert isinstance(dialog, CommandDialog)
        assert "2 hosts match" in text_of(app, "#cmd-count")
        assert "Type the command" in text_of(app, "#cmd-error")


async def test_help_lists_every_command_with_remapped_keys(
    seeded: Settings, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\nrun = "ctrl+o"\n')
    app = console_app(seeded, keymap=load_keymap(keys))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("r")
        assert not isinstance(app.screen, RunDialog)  # r no longer runs
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, RunDialog)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-body Static").render())
        assert "ctrl+o     Run runbook" in text and "job.rerun_failed" in text


def test_keymap_rejects_unknown_command_ids(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\nrnu = "ctrl+o"\n')
    with pytest.raises(ConfigError, match="unknown command id 'rnu'"):
        load_keymap(keys)


async def test_quit_without_running_jobs_exits_at_once(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitDialog)
    assert app.return_value == 0


async def test_quit_with_a_running_job_asks_and_the_job_is_stopped(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        job = await app.client.start_command("build", "sleep 30")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog))
        text = text_of(app, "#quit-text")
        assert "1 job is still running" in text and "Quitting stops it" in text
        await pilot.press("n")
        assert app.is_running and not isinstance(app.screen, QuitDialog)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog))
        await pilot.press("y")
        await pilot.pause()
    assert app.return_value == 0
    store = Store(seeded.data_dir)  # the engine is closed: what the dialog said happened
    try:
        stopped = store.get_job(job.id)
    finally:
        store.close()
    assert stopped.status.finished and "engine shut down" in (stopped.reason or "")


async def test_palette_runs_registry_commands(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"probe")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert row(app.inventory.table, "build")[4] == "up"


async def test_ansi_theme_uses_the_terminal_palette(seeded: Settings) -> None:
    app = console_app(seeded, ansi=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.theme == "ansi-dark"


async def test_jobs_are_paged_from_the_store(tmp_path: Path) -> None:
    history = [
        finished_job(
            n, "disk-usage", "all", ["build"], JobStatus.COMPLETED, at=1_714_564_800.0 + n * 60
        )
        for n in range(450)
    ]
    seed_data_dir(tmp_path / "data", history, with_streams=False)
    app = console_app(settings_for(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        await app.workers.wait_for_complete()
        assert app.jobs_pane.table.row_count == 200
        await pilot.press("end")
        await app.workers.wait_for_complete()
        await pilot.press("end")
        await app.workers.wait_for_complete()
        assert app.jobs_pane.table.row_count == 450
        oldest: Job = history[0]
        assert app.jobs_pane.table.keys[-1] == oldest.id


async def test_last_job_and_host_detail_come_from_deep_history(tmp_path: Path) -> None:
    """win01 ran one job, older than the first page of 200: the console still finds it."""
    history = [
        finished_job(
            n, "disk-usage", "build", ["build"], JobStatus.COMPLETED, at=1_714_564_800.0 + n * 60
        )
        for n in range(1, 1500)
    ]
    history.append(
        finished_job(
            0,
            "restart-service",
            "win01",
            ["win01"],
            JobStatus.FAILED,
            failed=["win01"],
            at=1_714_564_800.0,
        )
    )
    seed_data_dir(tmp_path / "data", history, with_streams=False)
    app = console_app(settings_for(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert row(app.inventory.table, "win01")[6] == "Failed"
        assert row(app.inventory.table, "web01")[6] == "-"  # in no job at all
        app.inventory.table.move_to_key("win01")
        await pilot.press("enter")
        await ready(pilot)
        assert isinstance(app.screen, HostDetail)
        jobs = str(app.screen.query_one("#host-jobs").render())
        assert "Failed" in jobs and "restart-service" in jobs
