"""The opsconsole TUI: four panes (Inventory, Drift, Updates, Jobs) over one engine.

The app talks to the engine only through an `EngineClient`, and never builds one:
`opsconsole tui` (console.cli.tui_cmd, the composition root) chooses the engine. Given a
`client_factory` (an async context manager yielding a client), the client is opened
inside the app's own event loop on mount and closed on exit, so an in-process engine's
jobs keep running while the operator navigates. Tests may pass a ready `client`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Input

from console.engine.client import EngineClient
from console.errors import OpsError
from console.jobs.events import EngineEvent
from console.jobs.model import Job, JobStatus
from screens.assets_screen import AssetsScreen
from screens.changes_screen import ChangesScreen
from screens.commands import (
    APP,
    ASSETS,
    CHANGES,
    DRIFT,
    HOST,
    INVENTORY,
    JOB,
    JOBS,
    UPDATES,
    Command,
    action_name,
    bindings_for,
    commands_for,
    is_typed,
)
from screens.drift_pane import DriftPane
from screens.host_detail import HostDetail
from screens.inventory_pane import InventoryPane
from screens.job_screen import JobScreen
from screens.jobs_pane import JobsPane
from screens.key_footer import KeyFooter
from screens.modals import HelpScreen, QuitDialog
from screens.palette import CommandsProvider
from screens.pane_bar import PaneBar
from screens.run_dialog import CommandDialog, RunDialog
from screens.updates_pane import UpdatesPane
from screens.vtable import VirtualTable

# Screens that cover the panes: pane keys and pane commands wait until they are closed.
FULL_SCREENS = (JobScreen, AssetsScreen, ChangesScreen)
ClientFactory = Callable[[], AbstractAsyncContextManager[EngineClient]]

ACTIVE = (JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING)
# The panes (their ids and labels), in the order of their keys 1-4.
PANES = (
    ("inventory", "1 Inventory"),
    ("drift", "2 Drift"),
    ("updates", "3 Updates"),
    ("jobs", "4 Jobs"),
)
RECENT_JOBS = 200  # jobs read at start to fill each host's "last job" cell
HOST_JOBS = 20  # recent jobs in the host detail


class EngineUpdate(Message):
    """An engine event, delivered on the app's message queue."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event


class OpsConsoleApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    BINDINGS: ClassVar = bindings_for(APP)
    COMMANDS: ClassVar = {CommandsProvider}
    ENABLE_COMMAND_PALETTE = True
    COMMAND_PALETTE_BINDING = "ctrl+p"

    def __init__(
        self,
        client: EngineClient | None = None,
        *,
        client_factory: ClientFactory | None = None,
        keymap: Mapping[str, str] | None = None,
        ansi: bool = False,
    ) -> None:
        super().__init__()
        if (client is None) == (client_factory is None):
            raise ValueError("pass exactly one of client or client_factory")
        if client is not None:
            self.client: EngineClient = client
        self._factory = client_factory
        self._client_cm: AbstractAsyncContextManager[EngineClient] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.keymap = dict(keymap or {})
        self.ready = False
        if ansi:
            self.theme = "ansi-dark"
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"  # less redraw traffic over SSH

    def compose(self) -> ComposeResult:
        yield PaneBar(PANES, "inventory")
        with ContentSwitcher(initial="inventory", id="panes"):
            yield InventoryPane(id="inventory")
            yield DriftPane(id="drift")
            yield UpdatesPane(id="updates")
            yield JobsPane(id="jobs")
        yield KeyFooter()

    @property
    def active_pane(self) -> str:
        """The id of the pane shown: "inventory", "drift", "updates" or "jobs"."""
        return self.query_one(ContentSwitcher).current or "inventory"

    @property
    def inventory(self) -> InventoryPane:
        return self.query_one(InventoryPane)

    @property
    def drift(self) -> DriftPane:
        return self.query_one(DriftPane)

    @property
    def updates(self) -> UpdatesPane:
        return self.query_one(UpdatesPane)

    @property
    def jobs_pane(self) -> JobsPane:
        return self.query_one(JobsPane)

    async def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        if self._factory is not None:
            self._client_cm = self._factory()
            self.client = await self._client_cm.__aenter__()

        def deliver(event: EngineEvent) -> None:
            self.post_message(EngineUpdate(event))

        self._unsubscribe = self.client.subscribe(deliver)
        recent = await self.client.jobs(limit=RECENT_JOBS)
        self.inventory.load(self.client.hosts("all"), recent)
        if len(recent) == RECENT_JOBS:  # older history may hold other hosts' last jobs
            self.inventory.read_history(recent[-1].id)
        self.inventory.table.focus()
        self.jobs_pane.reload()
        self.drift.reload()
        self.updates.reload()
        # Everything loaded so far (inventory, the in-process engine's store) lives for
        # the whole session: keep it out of the cyclic GC, whose full pass over 100,000
        # stored jobs would otherwise freeze keystrokes for ~130 ms at random moments.
        gc.freeze()
        self.ready = True

    async def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._client_cm is not None:
            await self._client_cm.__aexit__(None, None, None)

    def on_engine_update(self, message: EngineUpdate) -> None:
        event = message.event
        self.jobs_pane.engine_event(event)
        self.drift.engine_event(event)
        self.updates.engine_event(event)
        if event.job is not None:
            self.inventory.note_job(event.job)
        if event.run is not None:
            self.inventory.note_run(event.run)
        for screen in self.screen_stack:
            if isinstance(screen, JobScreen):
                screen.engine_event(event)

    # -- commands (the registry's app-wide actions) ------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """App-wide keys (r, x, q, 1-4, ...) are priority bindings: they act in the key's
        own turn, so keys typed right after `r` reach the dialog it opens. They stand
        aside while a text field or a dialog has the keyboard: there `r` is typed, and
        `q` is the dialog's own."""
        commands = [c for c in commands_for(APP) if action_name(c) == action]
        if not commands:
            return True
        if isinstance(self.screen, ModalScreen):
            return False
        typing = isinstance(self.focused, Input)
        return not (typing and any(is_typed(self.key_for(c)) for c in commands))

    def action_show_pane(self, pane: str) -> None:
        """Show the pane and move the focus to its list in this key's own turn:
        `Widget.focus()` would only queue the move behind keys already read, so `1`
        then `/db` arriving in one read would send `/db` to the pane being left."""
        while isinstance(self.screen, FULL_SCREENS):
            self.pop_screen()
        self.query_one(ContentSwitcher).current = pane
        self.query_one(PaneBar).active = pane
        panes = {
            "inventory": (self.inventory, self.inventory.table),
            "drift": (self.drift, self.drift.focus_target),
            "updates": (self.updates, self.updates.table),
            "jobs": (self.jobs_pane, self.jobs_pane.table),
        }
        if pane in panes:
            shown, focus = panes[pane]
            self.screen.set_focus(focus)
            # Its status names the keys for the new focus: written now, it is drawn in
            # this key's frame, not one frame later when the focus event comes.
            shown.show_status()

    def on_pane_bar_chosen(self, event: PaneBar.Chosen) -> None:
        self.action_show_pane(event.pane)

    def action_run_dialog(self) -> None:
        self.push_screen(RunDialog(self._current_pattern()), self._job_started)

    def action_command_dialog(self) -> None:
        self.push_screen(CommandDialog(self._current_pattern()), self._job_started)

    def _current_pattern(self) -> str:
        """The inventory filter, when it is a pattern, preselects the dialog's target."""
        if self.active_pane != "inventory":
            return ""
        return self.inventory.filter_input.value.strip()

    def _job_started(self, job: Job | None) -> None:
        if job is not None:
            hosts = f"{len(job.hosts)} host{'s' if len(job.hosts) != 1 else ''}"
            self.notify(f"Started {job.runbook} on {hosts}", timeout=3)
            self.open_job(job.id)

    def open_job(self, job_id: str) -> None:
        while isinstance(self.screen, JobScreen):
            self.pop_screen()
        self.push_screen(JobScreen(job_id))

    def action_assets(self) -> None:
        if not isinstance(self.screen, AssetsScreen):
            self.push_screen(AssetsScreen())

    def action_changes(self) -> None:
        if not isinstance(self.screen, ChangesScreen):
            self.push_screen(ChangesScreen())

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    async def action_request_quit(self) -> None:
        try:
            active = len(await self.client.jobs(status=ACTIVE, limit=10_000))
        except OpsError:
            active = 0
        if not active:
            self.exit(0)
            return
        self.push_screen(
            QuitDialog(active, self.client.is_attached), lambda yes: self.exit(0) if yes else None
        )

    # -- lists: Enter on a row ---------------------------------------------------------

    async def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        if event.table.id == "inventory-table":
            self.push_screen(
                HostDetail(
                    self.inventory.hosts[event.key], HOST_JOBS, self.inventory.probes.get(event.key)
                )
            )
        elif event.table.id == "jobs-table":
            self.open_job(event.key)

    # -- registry hooks for the palette ------------------------------------------------

    def key_for(self, command: Command) -> str:
        return self.keymap.get(command.id, command.key)

    def _target(self, scope: str) -> Any:
        if scope == APP:
            return self
        if scope == JOB:
            return self.screen if isinstance(self.screen, JobScreen) else None
        if scope == ASSETS:
            return self.screen if isinstance(self.screen, AssetsScreen) else None
        if scope == CHANGES:
            return self.screen if isinstance(self.screen, ChangesScreen) else None
        if scope == HOST:
            return self.screen if isinstance(self.screen, HostDetail) else None
        if isinstance(self.screen, FULL_SCREENS):
            return None
        active = self.active_pane
        if scope == INVENTORY and active == "inventory":
            return self.inventory
        if scope == DRIFT and active == "drift":
            return self.drift
        if scope == UPDATES and active == "updates":
            return self.updates
        if scope == JOBS and active == "jobs":
            return self.jobs_pane
        return None

    def command_available(self, command: Command) -> bool:
        return self._target(command.scope) is not None

    async def run_registry_command(self, command: Command) -> None:
        target = self._target(command.scope)
        if target is not None:
            await self.run_action(command.action, target)
