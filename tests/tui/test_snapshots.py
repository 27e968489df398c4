"""SVG snapshots of every pane and the main dialogs at 80x24 and 120x40.

The app runs the real engine over the seeded data directory (tests/tui/seed.py).
Plain `def` tests: `snap_compare` runs its own event loop (see textual-notes).
Regenerate after an intended change with `pytest tests/tui --snapshot-update`, and
look at the changed SVGs before committing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import Input

from console.settings import Settings
from screens.apply_dialog import ApplyDialog
from tests.tui.seed import console_app, seed_assets

SIZES = [(80, 24), (120, 40)]


async def settle(pilot: Any) -> None:
    """Until the engine is up, the lists are loaded and no worker is busy; then the
    focused input's cursor is held as a key leaves it (shown): it blinks every 0.5 s,
    and on a slow machine the picture would otherwise depend on when it is taken."""
    while not pilot.app.ready:
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()
    focused = pilot.app.focused
    if isinstance(focused, Input):
        focused._pause_blink(visible=True)
    await pilot.pause(0.1)


def keys(*pressed: str) -> Callable[[Any], Awaitable[None]]:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press(*pressed)
        await settle(pilot)

    return run_before


VIEWS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "inventory": keys(),
    "inventory_filtered": keys("slash", *"web:&prod"),
    "drift": keys("2"),
    "updates": keys("3"),
    "jobs": keys("4"),
    "job": keys("4", "down", "enter"),  # the failed restart-service job
    "run_dialog": keys("r", *"restart"),
    "exec_dialog": keys("x", *"db"),
    "host_detail": keys("down", "down", "down", "down", "enter"),  # db01
    "help": keys("question_mark"),
}
# States of the views above, at the size the console is laid out for.
STATES: dict[str, Callable[[Any], Awaitable[None]]] = {
    "job_filtered": keys("4", "down", "enter", "slash", *"fail"),
    "run_dialog_form": keys("r", *"patch", "enter", *"build", "tab"),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(snap_compare: Any, seeded: Settings, view: str, size: tuple[int, int]) -> None:
    assert snap_compare(console_app(seeded), terminal_size=size, run_before=VIEWS[view])


@pytest.mark.parametrize("state", list(STATES))
def test_state_at_80x24(snap_compare: Any, seeded: Settings, state: str) -> None:
    assert snap_compare(console_app(seeded), terminal_size=(80, 24), run_before=STATES[state])


# The Assets screen over seeded assets, and the new-credential dialog with a password
# typed: the picture shows its dots, never the value.
ASSET_VIEWS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "assets": keys("A", "end"),
    "asset_credential_dialog": keys(
        "A", "n", "enter", *"ops", "tab", "tab", *"root", "tab", *"pw-1234"
    ),
}


@pytest.mark.parametrize("view", list(ASSET_VIEWS))
def test_assets_at_80x24(snap_compare: Any, seeded: Settings, view: str) -> None:
    asyncio.run(seed_assets(seeded.data_dir))
    app = console_app(seeded)
    assert snap_compare(app, terminal_size=(80, 24), run_before=ASSET_VIEWS[view])


# Inventory data and changes over the seeded collections (seed_changes): the Changes
# view, a file change's diff (scrolled to its content edit), and web03's Facts and
# Software tabs.
CHANGE_VIEWS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "changes": keys("C"),
    "change_diff": keys("C", "down", "enter", "end"),
    "host_facts": keys("slash", *"web03", "enter", "enter", "2"),
    "host_software": keys("slash", *"web03", "enter", "enter", "3"),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(CHANGE_VIEWS))
def test_changes_view(
    snap_compare: Any, seeded: Settings, view: str, size: tuple[int, int]
) -> None:
    assert snap_compare(console_app(seeded), terminal_size=size, run_before=CHANGE_VIEWS[view])


# The Drift pane over the seeded configurations and reports (seed_state: one row per
# node status), web02's report with its diffs, and the apply confirmation. The plain
# "drift" view above is the pane without configurations: its hint.
DRIFT_VIEWS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "drift_rows": keys("2"),
    "drift_by_status": keys("2", "s"),
    "drift_report": keys("2", "down", "down", "down", "enter"),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(DRIFT_VIEWS))
def test_drift_view(
    snap_compare: Any, drift_seeded: Settings, view: str, size: tuple[int, int]
) -> None:
    assert snap_compare(console_app(drift_seeded), terminal_size=size, run_before=DRIFT_VIEWS[view])


def test_drift_apply_dialog_at_80x24(snap_compare: Any, drift_seeded: Settings) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("2", "down", "down", "down", "a")
        while not isinstance(pilot.app.screen, ApplyDialog):
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    assert snap_compare(console_app(drift_seeded), terminal_size=(80, 24), run_before=run_before)


# The Updates pane over the seeded assessments (seed_updates: compliant, not, failed,
# never assessed), sorted least compliant first, and web02's pending packages.
UPDATES_VIEWS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "updates_rows": keys("3"),
    "updates_by_compliance": keys("3", "s"),
    "updates_packages": keys("3", *["down"] * 5, "enter"),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(UPDATES_VIEWS))
def test_updates_view(
    snap_compare: Any, updates_seeded: Settings, view: str, size: tuple[int, int]
) -> None:
    app = console_app(updates_seeded)
    assert snap_compare(app, terminal_size=size, run_before=UPDATES_VIEWS[view])


def test_updates_deploy_dialog_at_80x24(snap_compare: Any, updates_seeded: Settings) -> None:
    assert snap_compare(
        console_app(updates_seeded), terminal_size=(80, 24), run_before=keys("3", "d")
    )
