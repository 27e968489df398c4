"""SVG snapshots of every pane and the main dialogs at 80x24 and 120x40.

Plain `def` tests: `snap_compare` runs its own event loop (see textual-notes).
Regenerate after an intended change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.sample_app import sample_app

SIZES = [(80, 24), (120, 40)]


async def _open_job(pilot: Any) -> None:
    await pilot.press("4", "down", "enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


async def _run_dialog(pilot: Any) -> None:
    await pilot.press("r", *"restart")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


VIEWS: dict[str, dict[str, Any]] = {
    "inventory": {"press": []},
    "inventory_filtered": {"press": ["slash", *"web:&prod"]},
    "drift": {"press": ["2"]},
    "updates": {"press": ["3"]},
    "jobs": {"press": ["4"]},
    "job": {"run_before": _open_job},
    "run_dialog": {"run_before": _run_dialog},
    "exec_dialog": {"press": ["x", *"db"]},
    "host_detail": {"press": ["down", "down", "down", "enter"]},
    "help": {"press": ["question_mark"]},
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(snap_compare: Any, view: str, size: tuple[int, int]) -> None:
    assert snap_compare(sample_app(), terminal_size=size, **VIEWS[view])
