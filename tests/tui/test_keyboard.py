"""A keyboard-only operator at 80x24: every flow driven by key presses alone.

No widget value is set and nothing is focused by code: the tests press keys and read
what the screen holds. Jobs really run, on the inventory's local host `build`.
`burst` sends several keys the way a terminal delivers them when they arrive in one
read (a fast typist, a paste, a laggy SSH link): all queued before any is handled.
"""

from __future__ import annotations

from textual import events
from textual.app import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from console.jobs.model import JobStatus
from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from screens.key_footer import KeyFooter, KeyHint
from screens.run_dialog import CommandDialog, RunDialog
from tests.tui.seed import row
from tests.tui.test_panes import ready, text_of, until


def focused_id(app: OpsConsoleApp) -> str | None:
    return app.screen.focused.id if app.screen.focused is not None else None


def field(app: OpsConsoleApp, selector: str) -> str:
    return app.screen.query_one(selector, Input).value


def footer_keys(app: OpsConsoleApp) -> dict[str, KeyHint]:
    """The footer's keys by description, as drawn on the current screen."""
    return {hint.description: hint for hint in app.screen.query_one(KeyFooter).hints}


def burst(app: OpsConsoleApp, *keys: str) -> None:
    """Queue `keys` as the terminal driver does with one read holding all of them."""
    assert app._driver is not None
    for key in keys:
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        event = events.Key(name, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)


async def settle(pilot: Pilot[int]) -> None:
    """Until the runbook list is loaded and the form follows what was typed."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_run_dialog_walked_with_keys_starts_a_runbook(app: OpsConsoleApp) -> None:
    """r, search, Enter, target, Tab through the parameters, ctrl+s: the job runs with
    what was typed, and the defaults were shown as the CLI takes them."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("r", *"patch")
        await settle(pilot)
        await pilot.press("enter")  # picks patch-report, moves on to the target
        assert focused_id(app) == "run-pattern"
        assert field(app, "#param-security_only") == "false"
        assert field(app, "#param-classes") == '["Critical","Security"]'
        await pilot.press(*"build")
        assert "1 host matches: build" in text_of(app, "#run-count")
        await pilot.press("tab")
        assert focused_id(app) == "param-security_only"
        await pilot.press(*"yes", "tab", *"Security", "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(pilot, lambda: screen.job is not None and screen.job.status.finished)
        assert screen.job is not None and screen.job.status is JobStatus.COMPLETED
        assert screen.job.parameters["security_only"] is True
        await until(pilot, lambda: ("output", 'classes: ["Security"]') in screen.output.lines)


async def test_run_dialog_picking_and_a_target_that_follows_the_runbook(app: OpsConsoleApp) -> None:
    """Up/Down in the search pick; the target is the runbook's own until one is typed;
    Enter walks the fields down to Start."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        assert field(app, "#run-pattern") == ""  # disk-usage declares no target
        assert "Type a host, group or pattern" in text_of(app, "#run-count")
        await pilot.press("down", "down")  # disk-usage, patch-report, restart-service
        assert dialog.chosen is not None and dialog.chosen.name == "restart-service"
        assert focused_id(app) == "run-search"
        assert field(app, "#run-pattern") == "web"  # restart-service declares "web"
        assert "3 hosts match: web01, web02, web03" in text_of(app, "#run-count")
        await pilot.press("up")
        assert field(app, "#run-pattern") == ""
        await pilot.press("down", "enter", *"db01")  # typing replaces "web"
        await pilot.press("shift+tab", "up")  # back in the search: patch-report
        await settle(pilot)
        assert dialog.chosen.name == "patch-report"
        assert field(app, "#run-pattern") == "db01"  # the operator's target stays
        await pilot.press("down", "enter", "enter")
        assert focused_id(app) == "param-service"
        await pilot.press("enter", "enter", "enter")  # service, delay, mode
        assert focused_id(app) == "run-start"
        await pilot.press("enter")  # Start: the required service is missing
        assert "parameter 'service' is required" in text_of(app, "#run-error")
        assert isinstance(app.screen, RunDialog)


async def test_dialogs_keep_keys_typed_in_one_burst(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        burst(app, "r", *"disk", "enter", *"build", "tab", *"/tmp", "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(pilot, lambda: screen.job is not None and screen.job.status.finished)
        assert screen.job is not None
        assert (screen.job.runbook, screen.job.hosts) == ("disk-usage", ["build"])
        assert screen.job.parameters == {"path": "/tmp"}
        burst(app, "x", *"build", "enter", *"echo burst", "enter")
        await until(
            pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id != screen.job_id
        )
        command = app.screen
        assert isinstance(command, JobScreen)
        await until(pilot, lambda: ("output", "burst") in command.output.lines)


async def test_slash_then_text_in_one_burst_lands_in_the_filter(app: OpsConsoleApp) -> None:
    """`/` acts at once; in a text field, `/`, r, x, q and 1-4 are just typed."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        burst(app, "slash", *"db")
        await until(pilot, lambda: app.inventory.table.keys == ["db01", "db02"])
        await pilot.press("escape")  # leaves the field; the filter stays
        assert app.inventory.table.keys == ["db01", "db02"]
        assert focused_id(app) == "inventory-table"
        await pilot.press("escape")  # clears it
        assert len(app.inventory.table.keys) == 8
        await pilot.press("slash", *"rxq4/")
        assert field(app, "#inventory-filter") == "rxq4/"
        assert app.is_running and not isinstance(app.screen, (RunDialog, CommandDialog))
        await pilot.press("escape", "x")  # on the list again: x opens the exec dialog
        await pilot.pause()
        assert isinstance(app.screen, CommandDialog)
        await pilot.press(*"q4r")
        assert field(app, "#cmd-pattern") == "q4r"


async def test_slash_filters_the_open_jobs_host_grid(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("4", "down", "enter")  # the failed restart-service job
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await pilot.press("slash", *"failed")
        assert screen.hosts_table.keys == ["web03"]
        assert "1 of 3 hosts matching 'failed'" in text_of(app, "#job-hosts-status")
        assert ("error", "Job for nginx failed.") in screen.output.lines  # web03's output
        await pilot.press("escape")  # leaves the field
        await pilot.press("escape")  # clears the filter
        assert screen.hosts_table.keys == ["web01", "web02", "web03"]
        await pilot.press(*"/02")
        assert screen.hosts_table.keys == ["web02"]
        await pilot.press("escape", "escape", "escape")  # field, filter, back
        assert not isinstance(app.screen, JobScreen)


async def test_job_footer_offers_what_applies_and_fits_80_columns(app: OpsConsoleApp) -> None:
    """Running: Stop. Stopped: Rerun and Rerun failed, which start new jobs."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("x", *"build", "enter", *"sleep 30", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(
            pilot, lambda: screen.job is not None and screen.job.status is JobStatus.RUNNING
        )
        await pilot.pause()
        keys = footer_keys(app)
        assert "Stop" in keys and "Rerun" not in keys and "Rerun failed" not in keys
        await pilot.press("s")
        await until(
            pilot, lambda: screen.job is not None and screen.job.status is JobStatus.STOPPED
        )
        await pilot.pause()
        keys = footer_keys(app)
        assert "Stop" not in keys and {"Rerun", "Rerun failed", "Back", "Quit"} <= set(keys)
        assert sum(hint.width for hint in keys.values()) <= 80
        await pilot.press("f")  # the stopped host again
        await until(
            pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id != screen.job_id
        )
        rerun = app.screen
        assert isinstance(rerun, JobScreen)
        await until(pilot, lambda: rerun.job is not None)
        assert rerun.job is not None and rerun.job.pattern == "build"
        await pilot.press("s")
        await until(pilot, lambda: rerun.job is not None and rerun.job.status.finished)
        assert row(app.jobs_pane.table, rerun.job_id)[0] == "Stopped"
