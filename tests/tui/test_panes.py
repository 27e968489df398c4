"""Pilot tests of the console's behaviour over sample data (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from console.client import EngineEvent
from console.errors import ConfigError
from console.jobs import JobStatus, StreamRecord
from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from screens.keymap import load_keymap
from screens.modals import HelpScreen, HostDetail
from screens.run_dialog import CommandDialog, RunDialog
from tests.tui.sample_client import SampleClient, sample_jobs


async def test_number_keys_switch_panes(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one(TabbedContent)
        for key, pane in (("4", "jobs"), ("2", "drift"), ("3", "updates"), ("1", "inventory")):
            await pilot.press(key)
            assert tabs.active == pane
        await pilot.press("3")
        assert "Not available yet" in str(app.query_one("#updates").query_one(".empty-state")
                                           .render())


async def test_plain_filter_matches_name_or_group(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", *"db")
        assert app.inventory.table.keys == ["db01", "db02"]
        await pilot.press("escape")  # leaves the field
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert app.inventory.table.row_count == 8
        await pilot.press("slash", *"staging")
        assert app.inventory.table.keys == ["stage-web01"]


async def test_pattern_filter_goes_through_the_client(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", *"web:&prod:!web03")
        assert app.inventory.table.keys == ["web01", "web02"]
        await pilot.press("backspace", *"99")
        status = str(app.query_one("#inventory-status").render())
        assert "Pattern error" in status and "web099" in status


async def test_probe_fills_reachability_and_os(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.inventory.table.row("web01")[4] == "?"
        await pilot.press("p")
        await app.workers.wait_for_complete()
        assert app.inventory.table.row("web01")[4:6] == ("up", "Debian 12")
        assert app.inventory.table.row("win01")[4] == "down"


async def test_host_detail_shows_vars_groups_and_jobs(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "down", "down", "enter")  # db01
        await pilot.pause()
        assert isinstance(app.screen, HostDetail)
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "ansible_user: postgres" in text and "db, prod" in text
        assert "patch-report" in text and "(command)" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HostDetail)


async def test_jobs_list_opens_a_job_with_coloured_streams(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4", "down", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert screen.hosts_table.keys == ["web01", "web02", "web03"]
        assert ("warning", "config test printed 1 warning") in screen.output.lines
        await pilot.press("down", "down")  # web03 failed
        assert screen.selected == "web03"
        assert ("error", "Job for nginx failed.") in screen.output.lines


async def test_live_events_update_lists_and_open_output() -> None:
    client = SampleClient()
    app = OpsConsoleApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        job = sample_jobs()[0]  # queued
        await pilot.press("4", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        job.transition(JobStatus.STARTING)
        job.transition(JobStatus.RUNNING)
        job.host_runs["db01"].transition(JobStatus.STARTING)
        job.host_runs["db01"].transition(JobStatus.RUNNING)
        client.emit(EngineEvent(job.id, job=job, records=[
            StreamRecord(2e9, "web01", "output", "live line")]))
        await pilot.pause(0.2)
        assert app.jobs_pane.table.row(job.id)[0] == "Running"
        assert ("output", "live line") in app.screen.output.lines
        assert app.inventory.table.row("db01")[6] == "Running"


async def test_jobs_filter_by_status(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4", "slash", *"completed")
        await app.workers.wait_for_complete()
        rows = [app.jobs_pane.table.row(k) for k in app.jobs_pane.table.keys]
        assert len(rows) == 2 and all(r[0] == "Completed" for r in rows)


async def test_run_dialog_generates_the_form_and_counts_hosts(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", *"rstsrv")  # fuzzy: restart-service
        await app.workers.wait_for_complete()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        assert dialog.chosen is not None and dialog.chosen.name == "restart-service"
        assert [i.id for i in dialog.query(".param")] == ["param-service", "param-delay",
                                                          "param-mode"]
        assert "4 hosts match" in str(dialog.query_one("#run-count").render())  # "web"
        await pilot.press("escape")
        assert not isinstance(app.screen, RunDialog)


async def test_exec_dialog_refuses_an_empty_command(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", *"db", "enter", "enter")
        dialog = app.screen
        assert isinstance(dialog, CommandDialog)
        assert "2 hosts match" in str(dialog.query_one("#cmd-count").render())
        assert "Type the command" in str(dialog.query_one("#cmd-error").render())


async def test_help_lists_every_command_with_remapped_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\nrun = "ctrl+o"\n')
    app = OpsConsoleApp(SampleClient(), keymap=load_keymap(keys))
    async with app.run_test(size=(80, 24)) as pilot:
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


async def test_quit_without_running_jobs_exits_at_once() -> None:
    app = OpsConsoleApp(SampleClient(jobs=[]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_quit_with_active_jobs_asks_and_says_they_stop(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        text = str(app.screen.query_one("#quit-text").render())
        assert "1 job is still running" in text and "Quitting stops them" in text
        await pilot.press("n")
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert app.return_value == 0


async def test_palette_runs_registry_commands(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p", *"probe")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert app.inventory.table.row("web01")[4] == "up"


async def test_ansi_theme_uses_the_terminal_palette() -> None:
    app = OpsConsoleApp(SampleClient(), ansi=True)
    async with app.run_test(size=(80, 24)):
        assert app.theme == "ansi-dark"


async def test_jobs_are_paged_from_the_client() -> None:
    jobs = []
    base = sample_jobs()[1]
    for n in range(450):
        job = base.copy()
        job.id = f"{n:020x}"
        jobs.append(job)
    jobs.reverse()  # newest first
    app = OpsConsoleApp(SampleClient(jobs=jobs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await app.workers.wait_for_complete()
        assert app.jobs_pane.table.row_count == 200
        await pilot.press("end")
        await app.workers.wait_for_complete()
        await pilot.press("end")
        await app.workers.wait_for_complete()
        assert app.jobs_pane.table.row_count == 450
        assert app.jobs_pane.table.keys[-1] == f"{0:020x}"
