"""Keys typed right after a pane switch reach the new pane.

A terminal delivers what arrives in one read as one burst, and a loaded machine (or a
laggy SSH link) queues several keys before the app handles the first. `1` then `/db`
must filter the Inventory whatever the timing: the pane key has to move the focus in
its own turn, before the next key is dispatched. `burst` queues every key before any
is handled, which is the worst case of that timing, so these tests do not depend on
the machine's speed. They run the real engine over the seeded data directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from tests.tui.seed import console_app, seed_data_dir, settings_for
from tests.tui.test_keyboard import burst, field, focused_id
from tests.tui.test_panes import ready, until


@pytest.fixture
def app(tmp_path: Path) -> OpsConsoleApp:
    data_dir = tmp_path / "data"
    seed_data_dir(data_dir)
    return console_app(settings_for(data_dir))


@pytest.mark.parametrize("away", ["2", "3", "4"])
async def test_pane_key_then_filter_in_one_burst_filters_the_inventory(
    app: OpsConsoleApp, away: str
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press(away)
        burst(app, "1", "slash", *"db")
        await until(pilot, lambda: app.inventory.table.keys == ["db01", "db02"], timeout=60)
        assert app.active_pane == "inventory"
        assert field(app, "#inventory-filter") == "db"
        assert focused_id(app) == "inventory-filter"


async def test_two_pane_switches_and_a_filter_in_one_burst(app: OpsConsoleApp) -> None:
    """Each key acts on the pane the previous one showed: 4 then 1 then `/db`."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        burst(app, "4", "1", "slash", *"db")
        await until(pilot, lambda: app.inventory.table.keys == ["db01", "db02"], timeout=60)
        assert field(app, "#jobs-filter") == ""


async def test_jobs_key_then_filter_in_one_burst_filters_the_jobs(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        burst(app, "4", "slash", *"failed")
        await until(pilot, lambda: field(app, "#jobs-filter") == "failed", timeout=60)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.jobs_pane.table.row_count > 0
        assert all(app.jobs_pane.table.row(k)[0] == "Failed" for k in app.jobs_pane.table.keys)
        assert field(app, "#inventory-filter") == ""


async def test_pane_key_from_an_open_job_then_filter_in_one_burst(app: OpsConsoleApp) -> None:
    """The pane key closes the job screen and the filter lands in the pane it shows."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("4", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), timeout=60)
        await pilot.pause()
        burst(app, "1", "slash", *"db")
        await until(pilot, lambda: app.inventory.table.keys == ["db01", "db02"], timeout=60)
        assert not isinstance(app.screen, JobScreen)
        assert focused_id(app) == "inventory-filter"
