"""The host detail (Enter on an inventory row): tabs for the host's Overview
(address, groups, variables, recent jobs), Facts, Software, Services and Changes.

The keys are the registry's `host.*` commands (1-5 tabs, c collect now, / filter the
software). Every tab reads in a worker when first shown, so the dialog opens at once;
`c` collects the host now and rereads the tabs already read, and a failed collection
says why in the status line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import yaml
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TabbedContent, TabPane

from console.engine.client import HostProbe
from console.errors import OpsError
from console.inventory.model import Host
from screens.commands import HOST, bindings_for
from screens.context import client_of
from screens.format import short_clock
from screens.host_tabs import FactsTab, HostChangesTab, InventoryTab, ServicesTab, SoftwareTab
from screens.status_line import StatusLine

TABS = ("overview", "facts", "software", "services", "changes")
HINT = "1-5 tabs  c collect now  / filter software  Esc close"


def _plain(value: Any) -> Any:
    """Variables as YAML can print them (Mappings and tuples become dicts and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class HostDetail(ModalScreen[None]):
    """A host's overview and inventory data (read by the engine in the background:
    recent jobs can mean reading a long history, a snapshot ~2,000 packages)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings_for(HOST)

    def __init__(self, host: Host, job_count: int, probe: HostProbe | None = None) -> None:
        super().__init__()
        self.host = host
        self.job_count = job_count
        self.probe = probe

    def compose(self) -> ComposeResult:
        name = self.host.name
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(f"Host {name}", classes="dialog-title", markup=False)
            with TabbedContent(initial="host-overview", id="host-tabs"):
                with TabPane("1 Overview", id="host-overview"):
                    yield from self._overview()
                with TabPane("2 Facts", id="host-facts"):
                    yield FactsTab(name, id="facts-tab")
                with TabPane("3 Software", id="host-software"):
                    yield SoftwareTab(name, id="software-tab")
                with TabPane("4 Services", id="host-services"):
                    yield ServicesTab(name, id="services-tab")
                with TabPane("5 Changes", id="host-changes"):
                    yield HostChangesTab(name, id="changes-tab")
            yield StatusLine("", id="host-status", classes="status-line", markup=False)
            yield Label(HINT, classes="hint")

    def _overview(self) -> ComposeResult:
        host = self.host
        variables = (
            yaml.safe_dump(_plain(host.vars), sort_keys=True, default_flow_style=False).strip()
            or "(none)"
        )
        with VerticalScroll(id="host-detail"):
            address = (
                host.address if host.connection == "local" else f"{host.address}:{host.port}"
            )  # no port on this machine
            lines = [
                f"Address    {address}",
                f"Connection {host.connection}",
                f"Groups     {', '.join(host.groups) or '(none)'}",
            ]
            if host.worker_group:
                lines.append(f"Runs on    a worker of group {host.worker_group}")
            lines.append(f"Probe      {self._probe_text()}")
            lines += [f"WARNING    {relaxed}" for relaxed in host.relaxed_checks]
            yield Static("\n".join(lines), markup=False)
            yield Label("Variables (merged)", classes="section")
            yield Static(variables, markup=False)
            yield Label("Recent jobs", classes="section")
            yield Static("(reading the job history...)", id="host-jobs", markup=False)

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

    @work(exclusive=True, group="host-jobs")
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
                + (f"  on worker {worker}" if (worker := j.host_runs[name].worker) else "")
                for j in jobs
            )
            or "(none)"
        )

    # -- tabs --------------------------------------------------------------------------

    def _tab(self, name: str) -> InventoryTab | None:
        found = self.query(f"#{name}-tab").results(InventoryTab)
        return next(iter(found), None)

    @on(TabbedContent.TabActivated, "#host-tabs")
    def _shown(self, event: TabbedContent.TabActivated) -> None:
        """A tab reads its data the first time it is shown."""
        tab = self._tab(str(event.pane.id).removeprefix("host-"))
        if tab is not None and not tab.loaded:
            tab.load()

    def action_tab(self, name: str) -> None:
        self.query_one("#host-tabs", TabbedContent).active = f"host-{name}"
        tab = self._tab(name)
        focus = tab.main if tab is not None else self.query_one("#host-detail")
        self.call_after_refresh(self.set_focus, focus)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`/` is typed in the software filter, and only filters on the Software tab."""
        if action != "filter":
            return True
        software = self.query_one(SoftwareTab)
        on_software = self.query_one("#host-tabs", TabbedContent).active == "host-software"
        return on_software and self.focused is not software.filter_input

    def action_filter(self) -> None:
        self.set_focus(self.query_one(SoftwareTab).filter_input)

    # -- collect now -------------------------------------------------------------------

    @work(exclusive=True, group="host-collect")
    async def action_collect(self) -> None:
        status = self.query_one("#host-status", Static)
        status.add_class("shown")
        status.remove_class("error")
        status.update(f"Collecting {self.host.name}...")
        try:
            (result,) = await client_of(self).changes.collect(self.host.name)
        except OpsError as exc:
            status.add_class("error")
            status.update(f"Collection failed: {exc}")
            return
        if not result.ok:
            status.add_class("error")
            status.update(f"Collection failed: {result.error_kind}: {result.error}")
            return
        count = f"{result.changes} change{'' if result.changes == 1 else 's'}"
        status.update(f"Collected {self.host.name}: {count}")
        for tab in self.query(InventoryTab).results(InventoryTab):
            if tab.loaded:
                tab.load()

    def action_close(self) -> None:
        """Esc in the software filter goes back to its list; elsewhere it closes."""
        software = self.query_one(SoftwareTab)
        if self.focused is software.filter_input:
            self.set_focus(software.table)
            return
        self.dismiss(None)
