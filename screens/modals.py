"""Small modal screens: quit confirmation, host detail, and the `?` help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import yaml
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.engine.client import HostProbe
from console.errors import OpsError
from console.inventory.model import Host
from screens.commands import COMMANDS, SCOPES, key_label
from screens.context import client_of
from screens.format import short_clock


class QuitDialog(ModalScreen[bool]):
    """Asked only when jobs are still running: says what will happen to them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Stay"),
        Binding("y", "answer(True)", "Quit"),
    ]

    def __init__(self, active: int, attached: bool) -> None:
        super().__init__()
        self.active = active
        self.attached = attached

    def compose(self) -> ComposeResult:
        jobs = f"{self.active} job{'s are' if self.active != 1 else ' is'} still running."
        one = self.active == 1
        if self.attached:
            fate = (
                f"{'It keeps' if one else 'They keep'} running: this console is "
                "attached to a separate engine."
            )
        else:
            fate = f"Quitting stops {'it' if one else 'them'}: the engine runs inside this console."
        with Vertical(id="dialog", classes="dialog small"):
            yield Label("Quit opsconsole?", classes="dialog-title")
            yield Static(f"{jobs}\n{fate}", id="quit-text")
            with Horizontal(classes="buttons"):
                yield Button("Quit (y)", id="quit-yes", variant="error")
                yield Button("Stay (n)", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    @on(Button.Pressed, "#quit-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#quit-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)


def _plain(value: Any) -> Any:
    """Variables as YAML can print them (Mappings and tuples become dicts and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class HostDetail(ModalScreen[None]):
    """A host's address, groups and merged variables, and its recent jobs (read by the
    engine in the background: finding them can mean reading a long history)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, host: Host, job_count: int, probe: HostProbe | None = None) -> None:
        super().__init__()
        self.host = host
        self.job_count = job_count
        self.probe = probe

    def compose(self) -> ComposeResult:
        host = self.host
        variables = (
            yaml.safe_dump(_plain(host.vars), sort_keys=True, default_flow_style=False).strip()
            or "(none)"
        )
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(f"Host {host.name}", classes="dialog-title")
            with VerticalScroll(id="host-detail"):
                address = (
                    host.address if host.connection == "local" else f"{host.address}:{host.port}"
                )  # no port on this machine
                yield Static(
                    f"Address    {address}\n"
                    f"Connection {host.connection}\n"
                    f"Groups     {', '.join(host.groups) or '(none)'}\n"
                    f"Probe      {self._probe_text()}",
                    markup=False,
                )
                yield Label("Variables (merged)", classes="section")
                yield Static(variables, markup=False)
                yield Label("Recent jobs", classes="section")
                yield Static("(reading the job history...)", id="host-jobs", markup=False)
            yield Label("Esc to close", classes="hint")

    def _probe_text(self) -> str:
        """The last probe's whole answer (the inventory's OS column cuts it short)."""
        probe = self.probe
        if probe is None:
            return "not probed yet (p in the inventory)"
        when = short_clock(probe.checked)
        if probe.reachable:
            return f"up, {probe.os or 'OS unknown'} ({when})"
        return f"down: {probe.error or 'no answer'} ({when})"

    def on_mount(self) -> None:
        self.query_one("#host-detail").focus()
        self.load_jobs()

    @work(exclusive=True)
    async def load_jobs(self) -> None:
        name = self.host.name
        try:
            jobs = await client_of(self).jobs(host=name, limit=self.job_count)
        except OpsError as exc:
            self.query_one("#host-jobs", Static).update(f"(cannot read jobs: {exc})")
            return
        self.query_one("#host-jobs", Static).update(
            "\n".join(
                f"{short_clock(j.started or j.created)}  {j.host_runs[name].status.value:9}"
                f"  {j.runbook}"
                for j in jobs
            )
            or "(none)"
        )

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every command of the registry with its current key (after remapping)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        lines = []
        for scope, title in SCOPES.items():
            lines.append(title)
            for command in (c for c in COMMANDS if c.scope == scope):
                key = key_label(self.keymap.get(command.id, command.key))
                lines.append(f"  {key:10} {command.description:18} {command.id}")
            lines.append("")
        lines += [
            "In lists",
            "  Up/Down PgUp/PgDn Home/End move, Enter opens",
            "",
            "In dialogs",
            "  Tab/Enter next field, shift+Tab back; typing replaces a field's text",
            "  ctrl+s start, Esc cancel; Up/Down in the runbook search pick",
            "",
            "Keys are remappable by command id in ~/.config/opsconsole/keys.toml",
        ]
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static("\n".join(lines), markup=False)
            yield Label("Up/Down/PgDn scroll, Esc to close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
