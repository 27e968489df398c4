"""The key footer shows the keys of what has the focus, after every pane switch and
focus move: the pane's own keys, and none of the app's typed keys (`r`, `x`, `q`)
while a text field has the keyboard (OpsConsoleApp.check_action)."""

from __future__ import annotations

from screens.app import OpsConsoleApp
from screens.key_footer import KeyFooter
from screens.run_dialog import RunDialog
from tests.tui.test_panes import ready, until


def shown(app: OpsConsoleApp) -> list[str]:
    return [hint.description for hint in app.screen.query_one(KeyFooter).hints if hint.enabled]


async def test_the_footer_follows_the_pane_and_the_focus(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        inventory = shown(app)
        assert {"Filter", "Probe", "Runbook", "Exec", "Quit"} <= set(inventory)

        await pilot.press("4")  # the Jobs pane: no Probe there
        await until(pilot, lambda: "Probe" not in shown(app))
        assert {"Filter", "Runbook", "Quit"} <= set(shown(app))

        await pilot.press("1")
        await until(pilot, lambda: shown(app) == inventory)

        await pilot.press("slash")  # typing in the filter: `r`, `x` and `q` are typed
        await until(pilot, lambda: "Runbook" not in shown(app))
        assert "Quit" not in shown(app)

        await pilot.press("escape")  # back on the list: the same keys as before
        await until(pilot, lambda: shown(app) == inventory)


async def test_a_click_on_a_key_in_the_footer_presses_it(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        footer = app.screen.query_one(KeyFooter)
        start = 0
        for hint in footer.hints:
            if hint.description == "Runbook":
                break
            start += hint.width
        clicked = footer.hint_at(start + 2)
        assert clicked is not None and clicked.description == "Runbook"
        await pilot.click(KeyFooter, offset=(start + 2, 0))
        await until(pilot, lambda: isinstance(app.screen, RunDialog))
