"""The Updates pane, driven by keys over the real engine: assessments and a deployment
run written through the real update store (tests/tui/seed_updates.py). Deployments and
assessments started here are real jobs of the engine; the hosts they target have
loopback addresses without an SSH server, so they fail there and change nothing."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from console.jobs.model import Job
from console.settings import Settings
from console.updates.model import Assessment, Classification, PendingUpdate
from screens.app import OpsConsoleApp
from screens.deploy_dialog import DeployDialog
from screens.update_views import PackagesView, RunsView
from screens.updates_pane import UpdatesPane
from tests.tui.seed import T0, console_app, row
from tests.tui.seed_updates import deploy_job
from tests.tui.test_changes import on_screen
from tests.tui.test_drift import eventually, jobs_of
from tests.tui.test_panes import ready, until

HOST, CRITICAL, SECURITY, OTHER, TOTAL, REBOOT, ASSESSED, COMPLIANT = range(8)
BY_HOST = ["build", "db01", "db02", "stage-web01", "web01", "web02", "web03", "win01"]
LEAST_COMPLIANT = ["web02", "web03", "build", "db01", "stage-web01", "win01", "web01", "db02"]


async def open_updates(pilot: Pilot[int]) -> UpdatesPane:
    app = pilot.app
    assert isinstance(app, OpsConsoleApp)
    await ready(pilot)
    await pilot.press("3")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.updates


async def select(pilot: Pilot[int], pane: UpdatesPane, host: str) -> None:
    pane.table.move_to_key(host)
    await pilot.pause()


async def test_rows_count_updates_by_class_with_reboot_and_compliance(
    updates_seeded: Settings,
) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        assert pane.table.keys == BY_HOST
        assert row(pane.table, "web02") == ("web02", "1", "1", "2", "4", "yes", "05-01 13:01", "NO")
        assert row(pane.table, "web01") == ("web01", "0", "0", "2", "2", "-", "05-01 13:00", "yes")
        assert row(pane.table, "db02")[TOTAL:] == ("0", "-", "05-01 13:04", "yes")
        assert row(pane.table, "db01")[CRITICAL:] == ("-", "-", "-", "-", "-", "05-01 13:03", "?")
        assert row(pane.table, "win01")[ASSESSED:] == ("never", "?")
        screen = on_screen(app)
        assert "8 of 8 hosts, 2 NOT compliant" in screen
        assert "Compliant" in screen


async def test_sort_puts_the_least_compliant_first(updates_seeded: Settings) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        await pilot.press("s")
        assert pane.table.keys == LEAST_COMPLIANT
        assert "by compliance" in on_screen(app)
        await pilot.press("s")
        assert pane.table.keys == BY_HOST


async def test_filter_by_host_words_noncompliant_and_reboot(updates_seeded: Settings) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        await pilot.press("slash", *"noncompliant")
        assert pane.table.keys == [h for h in BY_HOST if h not in ("web01", "db02")]
        await pilot.press(*" web")
        assert pane.table.keys == ["stage-web01", "web02", "web03"]
        pane.filter_input.value = ""
        await pilot.press(*"reboot")
        assert pane.table.keys == ["web02"]
        pane.filter_input.value = ""
        await pilot.press(*"db")
        assert pane.table.keys == ["db01", "db02"]
        await pilot.press("enter", "escape")  # back to the list, then clear the filter
        assert pane.table.keys == BY_HOST


async def test_enter_shows_the_hosts_pending_packages(updates_seeded: Settings) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_updates(pilot)
        await select(pilot, pane, "web02")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PackagesView))
        screen = on_screen(app)
        assert "web02: 4 pending updates (apt)" in screen
        assert "Reboot pending (for linux-image-6.1.0-21-amd64)" in screen
        assert "openssl" in screen and "3.0.11-1 -> 3.0.13-1~deb12u1" in screen
        assert "Critical" in screen and "Debian-Security:12/bookworm-security" in screen
        assert "(new) -> 6.1.90-1" in screen
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PackagesView))
        await select(pilot, pane, "db01")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PackagesView))
        assert "dpkg lock held by another process" in on_screen(app)


async def test_deploy_dialog_refuses_a_bad_classification_and_a_short_window(
    updates_seeded: Settings,
) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        await select(pilot, pane, "web02")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen
        assert dialog.query_one("#deploy-pattern").value == "web02"  # type: ignore[attr-defined]
        dialog.query_one("#deploy-classes").value = ""  # type: ignore[attr-defined]
        await pilot.press(*"Security,Urgent", "ctrl+s")
        await until(pilot, lambda: "unknown classification 'Urgent'" in on_screen(app))
        assert "Enhancement" in on_screen(app)  # the names it could be
        await pilot.press(*["backspace"] * 6, "tab", "tab", "tab")  # to the window
        assert app.focused is dialog.query_one("#deploy-window")
        dialog.query_one("#deploy-window", Input).value = ""
        await pilot.press(*"20m", "ctrl+s")
        await until(pilot, lambda: "20 minutes is under the margins" in on_screen(app))
        error = str(dialog.query_one("#deploy-error").render())
        assert "so reboot IfRequired needs at least 25 minutes" in error
        assert isinstance(app.screen, DeployDialog)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DeployDialog))
        assert await jobs_of(app, "(updates deploy)") == [deploy_job()]


async def test_deploy_starts_an_updates_deploy_job_on_the_rows_host(
    updates_seeded: Settings,
) -> None:
    app = console_app(updates_seeded)
    seeded_run = deploy_job().id
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_updates(pilot)
        await select(pilot, pane, "web03")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog))
        await pilot.press("ctrl+s")
        started: list[Job] = []

        async def deployed() -> bool:
            runs = await jobs_of(app, "(updates deploy)")
            started[:] = [j for j in runs if j.id != seeded_run]
            return bool(started)

        await eventually(pilot, deployed)
        job = started[0]
        await until(pilot, lambda: f"job {job.id}" in on_screen(app))  # the notification
        assert (job.pattern, job.hosts) == ("web03", ["web03"])
        deployment = job.parameters["deployment"]
        assert isinstance(deployment, dict)
        assert deployment["name"] == "patch-web03"
        assert deployment["classifications"] == ["Security", "Critical"]
        assert (deployment["window_s"], deployment["reboot"]) == (7200, "IfRequired")

        async def ended() -> bool:
            return (await app.client.job(job.id)).status.value == "Failed"  # no SSH server

        await eventually(pilot, ended)


async def test_deploy_dialog_schedules_on_cron_and_refuses_a_time_in_the_past(
    updates_seeded: Settings,
) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        pane = await open_updates(pilot)
        await select(pilot, pane, "web02")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen
        when = dialog.query_one("#deploy-when", Input)
        when.value = "2020-01-01T02:00"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "When: 2020-01-01T02:00 (UTC) is in the past" in on_screen(app))
        assert app.focused is when
        dialog.query_one("#deploy-tz", Input).value = "Mars/Olympus"
        when.value = "0 2 * * sun"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Time zone: unknown time zone 'Mars/Olympus'" in on_screen(app))
        assert app.focused is dialog.query_one("#deploy-tz")
        dialog.query_one("#deploy-tz", Input).value = "Europe/Berlin"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, DeployDialog))
        await until(pilot, lambda: "Deployment patch-web02 scheduled:" in on_screen(app))
        (schedule,) = await app.client.schedules.entries()
        (kept,) = await app.client.updates.deployments()
        assert (schedule["name"], schedule["runbook"], schedule["pattern"]) == (
            "patch-web02",
            "(updates deploy)",
            "web02",
        )
        assert (schedule["recurrence"]["cron"], schedule["timezone"]) == (
            "0 2 * * sun",
            "Europe/Berlin",
        )
        assert (kept.name, kept.pattern, kept.window_s) == ("patch-web02", "web02", 7200)
        assert await jobs_of(app, "(updates deploy)") == [deploy_job()]  # none started now


async def test_assess_starts_an_assessment_of_the_rows_host_and_reloads(
    updates_seeded: Settings,
) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        await select(pilot, pane, "win01")
        await pilot.press("a")
        assessed: list[Job] = []

        async def finished() -> bool:
            assessed[:] = await jobs_of(app, "(updates assess)")
            return bool(assessed) and assessed[0].status.finished

        await eventually(pilot, finished)
        assert assessed[0].hosts == ["win01"]
        # The failed assessment is the host's latest: the row shows when it was made.
        await until(pilot, lambda: row(pane.table, "win01")[ASSESSED] != "never")
        assert row(pane.table, "win01")[COMPLIANT] == "?"


async def test_runs_view_shows_each_hosts_and_packages_results(updates_seeded: Settings) -> None:
    app = console_app(updates_seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_updates(pilot)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsView))
        screen = on_screen(app)
        assert "web-security" in screen and deploy_job().id in screen
        view = app.screen
        assert isinstance(view, RunsView)
        lines = view.body.plain.splitlines()  # the text drawn, one style span per word
        assert (
            f"web-security  Failed  2024-05-01 13:20:00  job {deploy_job().id}  on web01,web02"
            in lines
        )
        assert "  web01  Succeeded  not rebooted (not required)" in lines
        assert "  web02  Failed  rebooted (back after 42 s)" in lines
        assert "    libssl3  3.0.9-1 -> 3.0.11-1           Failed" in lines
        assert "    nginx    1.22.1-9 -> 1.22.1-9+deb12u1  NotSelected" in lines
        assert "      dpkg: error processing package libssl3" in lines  # why it failed
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunsView))


async def test_ten_thousand_hosts_filter_sort_and_scroll(updates_seeded: Settings) -> None:
    """The pane keeps every row as plain cells and draws only what is on screen."""
    kinds = [Classification.SECURITY, Classification.OTHER]
    assessments = [
        Assessment(
            f"host{n:05d}",
            T0 + n,
            "apt",
            (PendingUpdate("pkg", "1", "2", kinds[n % 2], "main"),) * (n % 3),
            reboot_pending=n % 5 == 0,
        )
        for n in range(10_000)
    ]
    app = console_app(updates_seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_updates(pilot)
        pane.show(assessments)
        await pilot.pause()
        assert pane.table.row_count == 10_000
        await pilot.press("slash", *"reboot noncompliant host00")
        # n < 1000, n % 5 == 0, Security pending: n even and n % 3 != 0.
        assert pane.table.row_count == len([n for n in range(0, 1000, 5) if n % 2 == 0 and n % 3])
        await pilot.press("enter", "s", "end")
        assert "host00" in on_screen(app)
        assert pane.table.cursor_key == pane.table.keys[-1]
