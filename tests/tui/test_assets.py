"""The Assets screen driven by keys over the real engine and vault: listed without a
value, created and replaced through dialogs whose secret fields never echo, deleted
with a confirmation. What the screen shows is read from its SVG export: every glyph on
screen is in it."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from textual.pilot import Pilot

from console.assets.vault import AssetVault
from console.settings import Settings
from screens.app import OpsConsoleApp
from screens.assets_screen import AssetDialog, AssetsScreen
from screens.job_screen import JobScreen
from tests.tui.seed import SEEDED_SECRETS, console_app, row, seed_assets
from tests.tui.test_panes import ready, until

NEW_PASSWORD = "n3w-Pa55word!"


def on_screen(app: OpsConsoleApp) -> str:
    """The screen's text as the SVG export holds it (spaces as no-break spaces)."""
    return app.export_screenshot().replace("&#160;", " ")


def vault_of(app: OpsConsoleApp) -> AssetVault:
    vault = app.client.assets
    assert isinstance(vault, AssetVault)
    return vault


async def open_assets(pilot: Pilot[int]) -> AssetsScreen:
    await ready(pilot)
    await pilot.press("A")
    await until(pilot, lambda: isinstance(pilot.app.screen, AssetsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, AssetsScreen)
    await until(pilot, lambda: screen.table.row_count == 4)
    return screen


async def test_assets_are_listed_with_kind_and_use_but_no_value(seeded: Settings) -> None:
    await seed_assets(seeded.data_dir)
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_assets(pilot)
        assert screen.table.keys == ["api_token", "api_url", "deploy", "grafana"]
        assert row(screen.table, "deploy")[:3] == ("deploy", "credential", "yes")
        assert row(screen.table, "api_url")[:3] == ("api_url", "variable", "no")
        await pilot.press("end")  # grafana: its plain field shows, its token does not
        await pilot.pause()
        text = on_screen(app)
        assert "endpoint=https://grafana.example.test" in text
        assert "secret: token" in text
        for secret in SEEDED_SECRETS:
            assert secret not in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AssetsScreen))


async def test_a_credential_typed_in_the_dialog_is_stored_and_never_echoed(
    seeded: Settings,
) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AssetsScreen))
        await pilot.press("n")
        await pilot.press("enter")  # the first kind: credential
        await until(pilot, lambda: isinstance(app.screen, AssetDialog))
        await pilot.press(*"web_admin", "tab", *"for the web tier", "tab", *"admin", "tab")
        await pilot.press(*NEW_PASSWORD)
        await pilot.pause()
        assert NEW_PASSWORD not in on_screen(app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, AssetsScreen))
        screen = app.screen
        assert isinstance(screen, AssetsScreen)
        await until(pilot, lambda: "web_admin" in screen.table.keys)
        resolved = vault_of(app).resolve("web_admin")
        assert resolved.values["username"] == "admin"
        assert resolved.values["password"] == NEW_PASSWORD
        assert NEW_PASSWORD not in on_screen(app)


async def test_an_error_shows_in_the_dialog_which_stays_open(seeded: Settings) -> None:
    """A password too short to mask is refused by the engine: the dialog says so."""
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("A", "n", "enter")
        await until(pilot, lambda: isinstance(app.screen, AssetDialog))
        await pilot.press(*"short", "tab", "tab", *"admin", "tab", *"abc", "ctrl+s")
        await until(pilot, lambda: "too short" in on_screen(app))
        assert isinstance(app.screen, AssetDialog)
        assert "short" not in [v.name for v in await app.client.assets.entries()]


async def test_replacing_an_encrypted_variable_keeps_it_encrypted(seeded: Settings) -> None:
    await seed_assets(seeded.data_dir)
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_assets(pilot)
        await pilot.press("home", "e")  # api_token, the encrypted variable
        await until(pilot, lambda: isinstance(app.screen, AssetDialog))
        dialog = app.screen
        assert isinstance(dialog, AssetDialog)
        assert dialog.query_one("#asset-encrypted").disabled
        assert dialog.query_one("#asset-value").value == ""  # type: ignore[attr-defined]
        await pilot.press("tab", *"tok-replaced-0042", "ctrl+s")
        await until(pilot, lambda: app.screen is screen)
        assert vault_of(app).resolve("api_token").values["value"] == "tok-replaced-0042"
        assert (await app.client.assets.show("api_token")).encrypted


async def test_delete_asks_first_and_removes_the_asset(seeded: Settings, tmp_path: Path) -> None:
    await seed_assets(seeded.data_dir)
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_assets(pilot)
        await pilot.press("down", "d")  # api_url
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("n")  # keep it
        await until(pilot, lambda: app.screen is screen)
        assert "api_url" in screen.table.keys
        await pilot.press("d", "y")
        await until(pilot, lambda: "api_url" not in screen.table.keys)
        assert "api_url" not in [v.name for v in await app.client.assets.entries()]


LEAKY_RUNBOOK = """\
#!/bin/sh
# /// runbook
# description = "prints its credential's password, plain and in base64"
# [parameters.login]
# type = "credential"
# ///
echo "password is $OPS_PARAM_LOGIN_PASSWORD"
printf '%s' "$OPS_PARAM_LOGIN_PASSWORD" | base64
"""


async def test_a_printed_secret_shows_as_stars_in_the_open_job(
    seeded: Settings, tmp_path: Path
) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(seeded.runbooks, runbooks)
    (runbooks / "leaky.sh").write_text(LEAKY_RUNBOOK)
    settings = Settings(seeded.inventory, seeded.data_dir, runbooks)
    await seed_assets(settings.data_dir)
    password = SEEDED_SECRETS[0]
    app = console_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        job = await app.client.start_job("leaky", "build", {"login": "deploy"})
        app.open_job(job.id)
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(pilot, lambda: screen.job is not None and screen.job.status.finished)
        await until(pilot, lambda: "password is ***" in on_screen(app))
        text = on_screen(app)
        assert password not in text
        assert base64.b64encode(password.encode()).decode() not in text
        assert text.count("***") >= 2
