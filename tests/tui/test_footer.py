"""The key footer shows the keys of what has the focus, after every pane switch and
focus move: the pane's own keys, and none of the app's typed keys (`r`, `x`, `q`)
while a text field has the keyboard (OpsConsoleApp.check_action)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from screens.app import OpsConsoleApp
from tests.tui.test_panes import ready, until


def shown(app: OpsConsoleApp) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey) if not key.disabled]


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
