"""Inventory data and changes in the console, driven by keys over the real engine and a
data directory with two real collections of the prod hosts (tests/tui/seed.py
`seed_changes`): the host detail's tabs, the Changes view, its filter and the diff.
What the user sees is read from the screen's SVG export."""

from __future__ import annotations

import html

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from console.changes.model import Change, ChangeKind, ChangeType
from console.settings import Settings
from screens import changes_screen
from screens.app import OpsConsoleApp
from screens.change_format import summary
from screens.changes_screen import ChangesScreen
from screens.diff_view import ChangeDiff
from screens.host_detail import HostDetail
from screens.vtable import VirtualTable
from tests.tui.seed import BASE_PACKAGES, COLLECTED_HOSTS, SYNTHETIC_LIBRARIES, console_app
from tests.tui.test_panes import ready, until

CHANGES_PER_HOST = 4  # a package added, a service stopped, sshd_config, the kernel


def on_screen(app: OpsConsoleApp) -> str:
    """The screen's text as the SVG export holds it, entities decoded."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


async def open_host(pilot: Pilot[int], host: str) -> HostDetail:
    app = pilot.app
    assert isinstance(app, OpsConsoleApp)
    await ready(pilot)
    app.inventory.table.move_to_key(host)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, HostDetail))
    screen = app.screen
    assert isinstance(screen, HostDetail)
    return screen


async def show_tab(pilot: Pilot[int], key: str) -> None:
    await pilot.press(key)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_changes(pilot: Pilot[int]) -> ChangesScreen:
    await ready(pilot)
    await pilot.press("C")
    await until(pilot, lambda: isinstance(pilot.app.screen, ChangesScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ChangesScreen)
    await pilot.app.workers.wait_for_complete()
    return screen


async def filtered(pilot: Pilot[int], screen: ChangesScreen, text: str) -> list[tuple[str, ...]]:
    """Type `text` into the emptied filter; the rows the engine answered with."""
    await pilot.press("slash")
    screen.filter_input.value = ""
    await pilot.press(*text)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    table = screen.table
    return [cells for key in table.keys if (cells := table.row(key)) is not None]


async def test_host_tabs_switch_by_keys_and_show_the_snapshot(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        detail = await open_host(pilot, "web03")
        tabs = detail.query_one("#host-tabs", TabbedContent)
        assert tabs.active == "host-overview"
        await show_tab(pilot, "2")
        assert tabs.active == "host-facts"
        text = on_screen(app)
        assert "web03.example.test" in text and "Debian GNU/Linux 12 (debian)" in text
        assert "6.1.0-21-amd64 x86_64" in text  # the second collection's kernel
        assert "2024-05-01 14:02:00" in text  # when it was collected
        await show_tab(pilot, "3")
        assert tabs.active == "host-software"
        total = len(BASE_PACKAGES) + SYNTHETIC_LIBRARIES + 2  # nginx and the added htop
        assert f"{total:,} packages" in on_screen(app)
        assert app.focused is detail.query_one("#software-table", VirtualTable)
        await pilot.press("slash", *"ssl")
        await pilot.pause()
        table = detail.query_one("#software-table", VirtualTable)
        assert table.keys == ["libssl3:amd64", "openssl:amd64"]
        assert f"2 of {total:,} packages matching 'ssl'" in on_screen(app)
        await pilot.press("escape")  # leaves the field, the dialog stays
        assert isinstance(app.screen, HostDetail)
        await show_tab(pilot, "4")
        services = detail.query_one("#services-table", VirtualTable)
        assert services.row("nginx") == ("nginx", "failed", "enabled", "systemd", "-")
        assert services.row("ssh") == ("ssh", "active", "enabled", "systemd", "04-28 12:00:09")
        assert "5 services: 1 failed, 1 stopped" in on_screen(app)
        await show_tab(pilot, "1")
        assert "Recent jobs" in on_screen(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HostDetail))


async def test_host_changes_tab_opens_the_diff_of_a_change(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        detail = await open_host(pilot, "web01")
        await show_tab(pilot, "5")
        table = detail.query_one("#host-changes-table", VirtualTable)
        assert table.row_count == CHANGES_PER_HOST
        names = [row[3] for key in table.keys if (row := table.row(key))]
        assert names == ["kernel", "/etc/ssh/sshd_config", "nginx", "htop"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChangeDiff))
        await pilot.press("end")
        await pilot.pause()
        text = on_screen(app)
        assert "-PermitRootLogin yes" in text and "+PermitRootLogin no" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HostDetail))


async def test_a_host_never_collected_says_so(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_host(pilot, "win01")
        for key in ("2", "3", "4"):
            await show_tab(pilot, key)
            assert "win01 has not been collected yet: press c to collect it now." in (
                on_screen(app)
            )


async def test_collecting_an_unreachable_host_shows_why(seeded: Settings) -> None:
    """stage-web01's address has no SSH server: the collection fails, the dialog says
    why and nothing was recorded (its tabs still say it was never collected)."""
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_host(pilot, "stage-web01")
        await show_tab(pilot, "2")
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(app.screen.query_one("#host-status").render())
        assert status.startswith("Collection failed: unreachable")
        assert "has not been collected yet" in on_screen(app)
        assert await app.client.changes.changes(host="stage-web01") == []


async def test_collecting_a_reachable_host_fills_its_tabs(seeded: Settings) -> None:
    """`build` runs on this machine: `c` collects it for real and the Facts tab,
    which said "not collected", shows what the collector found."""
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_host(pilot, "build")
        await show_tab(pilot, "2")
        assert "has not been collected yet" in on_screen(app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = on_screen(app)
        assert "Collected build: 0 changes" in text  # the first collection is the baseline
        assert "From the collection of" in text and "Hostname" in text
        facts = await app.client.changes.facts("build")
        assert facts["hostname"] and facts["hostname"] in text


async def test_changes_view_lists_every_hosts_changes_newest_first(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_changes(pilot)
        table = screen.table
        assert table.row_count == CHANGES_PER_HOST * len(COLLECTED_HOSTS)
        first = table.row(table.keys[0])
        assert first is not None and first[:5] == (
            "05-01 14:04",
            "db02",
            "fact",
            "modified",
            "kernel",
        )
        text = on_screen(app)
        assert "active -> failed" in text  # web03's nginx
        assert "+ 3.2.2-2" in text  # htop added on the web hosts
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ChangesScreen))


async def test_changes_filter_by_host_type_and_text(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_changes(pilot)
        rows = await filtered(pilot, screen, "host:web02")
        assert {r[1] for r in rows} == {"web02"} and len(rows) == CHANGES_PER_HOST
        rows = await filtered(pilot, screen, "type:service")
        assert {r[2] for r in rows} == {"service"} and len(rows) == len(COLLECTED_HOSTS)
        rows = await filtered(pilot, screen, "host:db01 type:software")
        assert [r[4] for r in rows] == ["pgbouncer"]
        rows = await filtered(pilot, screen, "PermitRootLogin")  # in the file's content
        assert {r[4] for r in rows} == {"/etc/ssh/sshd_config"} and len(rows) == 5
        await filtered(pilot, screen, "type:disk")
        assert "unknown change type 'disk'" in on_screen(app)
        await pilot.press("enter")  # back to the list; Esc clears the filter
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.table.row_count == CHANGES_PER_HOST * len(COLLECTED_HOSTS)


async def test_enter_on_a_change_shows_its_diff(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_changes(pilot)
        await filtered(pilot, screen, "host:web01 type:file")
        await pilot.press("enter", "enter")  # back to the list, then open the row
        await until(pilot, lambda: isinstance(app.screen, ChangeDiff))
        text = on_screen(app)
        assert "web01: file modified /etc/ssh/sshd_config" in text
        assert "-PermitRootLogin yes" in text and "+PermitRootLogin no" in text
        assert "+MaxAuthTries 3" in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_palette_opens_the_changes_view(seeded: Settings) -> None:
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"Everywhere: Changes")
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        options = palette.query_one(CommandList)
        await until(
            pilot,
            lambda: (
                options.option_count > 0
                and "Changes (C)" in str(options.get_option_at_index(0).prompt)
            ),
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChangesScreen))


async def test_older_changes_load_a_page_at_a_time(
    seeded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 8 over 20 changes: each move to the last row reads the next page
    (`before_id`), until the log has no more."""
    monkeypatch.setattr(changes_screen, "PAGE", 8)
    app = console_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_changes(pilot)
        assert screen.table.row_count == 8
        for expected in (16, 20, 20):
            await pilot.press("end")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert screen.table.row_count == expected
        oldest = screen.table.row(screen.table.keys[-1])
        assert oldest is not None and oldest[:2] == ("05-01 14:00", "web01")
        assert len(set(screen.table.keys)) == 20  # no change twice


def test_a_service_that_started_again_reads_as_restarted() -> None:
    before = {"name": "ssh", "state": "running", "enabled": "enabled", "started": 100.0}
    after = {**before, "started": 900.0}
    restart = Change(
        "c1", 1000.0, "web01", ChangeType.SERVICE, ChangeKind.MODIFIED, "ssh", before, after
    )
    assert summary(restart) == "running, restarted"
    stopped = Change(
        "c2",
        1000.0,
        "web01",
        ChangeType.SERVICE,
        ChangeKind.MODIFIED,
        "ssh",
        before,
        {**after, "state": "stopped"},
    )
    assert summary(stopped) == "running -> stopped"
