"""The Drift pane, driven by keys over the real engine: the configurations in
tests/tui/data/configurations and a report per host written through the real state
store (tests/tui/seed_state.py), one row per node status. Checks and applies started
here are real jobs of the engine; the hosts' addresses have no SSH server, so they end
Unresponsive and change nothing."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from console.jobs.model import Job
from console.settings import Settings
from console.state.model import NodeState, NodeStatus
from screens.app import OpsConsoleApp
from screens.apply_dialog import ApplyDialog
from screens.drift_pane import DriftPane
from screens.drift_rows import row_key
from screens.job_screen import JobScreen
from screens.state_report import StateReport
from tests.tui.seed import T0, console_app, row, settings_for
from tests.tui.seed_state import CONFIGURATIONS, state_jobs
from tests.tui.test_changes import on_screen
from tests.tui.test_panes import ready, until

HOST, CONFIG, STATUS, DRIFTED, LAST_CHECK, JOB = range(6)
BY_HOST = ["db01", "db02", "web01", "web02", "web03"]
WORST_FIRST = ["db01", "web03", "web02", "db02", "web01"]


async def open_drift(pilot: Pilot[int]) -> DriftPane:
    app = pilot.app
    assert isinstance(app, OpsConsoleApp)
    await ready(pilot)
    await pilot.press("2")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.drift


def hosts(pane: DriftPane) -> list[str]:
    return [key.split("\t")[0] for key in pane.table.keys]


async def select(pilot: Pilot[int], pane: DriftPane, host: str, configuration: str) -> None:
    pane.table.move_to_key(row_key(host, configuration))
    await pilot.pause()


async def jobs_of(app: OpsConsoleApp, runbook: str) -> list[Job]:
    return await app.client.jobs(runbook=runbook)


async def eventually(pilot: Pilot[int], probe: Callable[[], Awaitable[bool]]) -> None:
    """`until` for a condition the engine answers (an async call)."""
    deadline = asyncio.get_running_loop().time() + 60
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await pilot.pause(0.05)


async def test_rows_show_every_node_status_with_drift_and_last_check(
    drift_seeded: Settings,
) -> None:
    app = console_app(drift_seeded)
    web_check, db_check = state_jobs()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        assert hosts(pane) == BY_HOST
        web02 = row(pane.table, row_key("web02", "web-baseline"))
        assert web02[STATUS] == "NotCompliant"
        assert web02[DRIFTED] == "2"
        assert web02[LAST_CHECK] == "05-01 13:00"  # the web check, T0 + 1 h (UTC)
        assert web02[JOB] == web_check.id
        assert row(pane.table, row_key("db01", "db-baseline"))[JOB] == db_check.id
        db02 = row(pane.table, row_key("db02", "db-baseline"))
        assert (db02[STATUS], db02[DRIFTED], db02[LAST_CHECK], db02[JOB]) == (
            "Pending",
            "-",
            "never",
            "-",
        )
        screen = on_screen(app)
        for status in ("Compliant", "NotCompliant", "Unresponsive", "Failed", "Pending"):
            assert status in screen


async def test_filter_by_status_term_and_words(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await pilot.press("slash", *"status:NotCompliant")
        assert hosts(pane) == ["web02"]
        pane.filter_input.value = ""
        await pilot.press(*"status:fail,unresp")
        assert hosts(pane) == ["db01", "web03"]
        pane.filter_input.value = ""
        await pilot.press(*"db baseline")
        assert hosts(pane) == ["db01", "db02"]
        pane.filter_input.value = ""
        await pilot.press(*"status:drifty")
        assert "no status 'drifty'" in on_screen(app)
        await pilot.press("enter", "escape")  # back to the list, then clear the filter
        assert hosts(pane) == BY_HOST


async def test_sort_key_cycles_by_host_and_worst_status_first(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await pilot.press("s")
        assert hosts(pane) == WORST_FIRST
        assert "by status" in on_screen(app)
        await pilot.press("s")
        assert hosts(pane) == BY_HOST


async def test_enter_shows_the_report_with_each_drifted_resources_diff(
    drift_seeded: Settings,
) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "web02", "web-baseline")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StateReport))
        screen = on_screen(app)
        assert "web02 / web-baseline: NotCompliant" in screen
        assert "3 resources: 2 drifted, 1 compliant" in screen
        assert "-Welcome to web02" in screen
        assert "+Managed by opsconsole" in screen
        assert "-mode: 0600" in screen and "+mode: 0644" in screen
        assert "-running: false" in screen and "+running: true" in screen
        assert "package:htop" in screen
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, StateReport))


async def test_report_of_a_failed_host_says_why_and_a_pending_one_has_none(
    drift_seeded: Settings,
) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "db01", "db-baseline")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StateReport))
        assert "status database area is locked" in on_screen(app)
        await pilot.press("escape")
        await select(pilot, pane, "db02", "db-baseline")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: "db02 was never checked" in on_screen(app))
        assert not isinstance(app.screen, StateReport)


async def test_apply_asks_with_the_changes_and_no_starts_nothing(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "web02", "web-baseline")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApplyDialog))
        await pilot.pause()
        screen = on_screen(app)
        assert "Apply 2 changes to web02?" in screen
        assert "file:/etc/motd" in screen and "service:nginx" in screen
        assert "running=false" in screen and "running=true" in screen
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ApplyDialog))
        await app.workers.wait_for_complete()
        assert await jobs_of(app, "(state apply)") == []
        assert row(pane.table, row_key("web02", "web-baseline"))[STATUS] == "NotCompliant"


async def test_apply_yes_starts_an_apply_job_shown_on_the_row(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    key = row_key("web02", "web-baseline")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "web02", "web-baseline")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApplyDialog))
        await pilot.press("y")
        applies: list[Job] = []

        async def started() -> bool:
            applies[:] = await jobs_of(app, "(state apply)")
            return bool(applies)

        await eventually(pilot, started)
        job = applies[0]
        assert job.pattern == "web02" and job.parameters.get("configuration") == "web-baseline"
        # At once the row names the job; once it ends, the engine's report (web02 has no
        # SSH server here) replaces the row, under that job's id.
        await until(pilot, lambda: row(pane.table, key)[JOB] == job.id)
        await until(pilot, lambda: row(pane.table, key)[STATUS] == "Unresponsive")
        assert row(pane.table, key)[JOB] == job.id


async def test_check_starts_a_state_check_job_for_the_row(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    key = row_key("db02", "db-baseline")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "db02", "db-baseline")
        await pilot.press("c")
        await until(pilot, lambda: row(pane.table, key)[JOB] != "-")
        job_id = row(pane.table, key)[JOB]
        job = await app.client.job(job_id)
        assert job.runbook == "(state check)"
        assert (job.pattern, job.parameters.get("configuration")) == ("db02", "db-baseline")
        await until(pilot, lambda: row(pane.table, key)[STATUS] != "Pending")
        assert row(pane.table, key)[STATUS] == "Unresponsive"
        assert row(pane.table, key)[LAST_CHECK] != "never"


async def test_job_key_opens_the_rows_last_job(drift_seeded: Settings) -> None:
    app = console_app(drift_seeded)
    web_check, _ = state_jobs()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        await select(pilot, pane, "web03", "web-baseline")
        await pilot.press("J")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert screen.job_id == web_check.id


async def test_without_configurations_the_pane_says_how_to_add_one(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        assert not pane.table.display
        screen = on_screen(app)
        assert "--configurations DIR" in screen
        assert "docs/state.md" in screen


async def test_a_broken_configuration_is_listed_with_its_problem(
    drift_seeded: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "configurations"
    shutil.copytree(CONFIGURATIONS, folder)
    (folder / "cache.yaml").write_text(
        "targets: web\nresources:\n  - package: redis\n    stat: present\n"
    )
    app = console_app(settings_for(drift_seeded.data_dir, folder))
    async with app.run_test(size=(100, 24)) as pilot:
        pane = await open_drift(pilot)
        assert hosts(pane) == BY_HOST  # the other configurations still show
        screen = on_screen(app)
        assert "Configuration cache:" in screen
        assert "unknown key 'stat'" in screen


async def test_ten_thousand_rows_filter_sort_and_scroll(drift_seeded: Settings) -> None:
    """The pane keeps every row as plain cells and draws only what is on screen."""
    statuses = list(NodeStatus)
    nodes = [
        NodeState(f"host{n:05d}", "web-baseline", statuses[n % 5], T0 + n, n % 3, "")
        for n in range(10_000)
    ]
    app = console_app(drift_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_drift(pilot)
        pane.show(pane.configurations, nodes)
        await pilot.pause()
        assert pane.table.row_count == 10_000
        await pilot.press("slash", *"status:pending host00")
        assert pane.table.row_count == 200  # host00000..host00999, one in five
        await pilot.press("enter", "s", "end")
        assert pane.table.cursor_key == row_key("host00998", "web-baseline")
        assert "host00998" in on_screen(app)


async def test_capital_k_checks_every_configuration_on_all_its_hosts(
    drift_seeded: Settings,
) -> None:
    app = console_app(drift_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_drift(pilot)
        before = {j.id for j in await jobs_of(app, "(state check)")}
        await pilot.press("K")
        started: list[Job] = []

        async def both_started() -> bool:
            started[:] = [j for j in await jobs_of(app, "(state check)") if j.id not in before]
            return len(started) == 2

        await eventually(pilot, both_started)
        by_configuration = {str(j.parameters["configuration"]): sorted(j.hosts) for j in started}
        assert by_configuration == {
            "web-baseline": ["web01", "web02", "web03"],
            "db-baseline": ["db01", "db02"],
        }
