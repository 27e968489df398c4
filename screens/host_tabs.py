"""The host detail's inventory tabs: Facts, Software, Services and Changes.

Each tab reads its part of the host's latest snapshot (or its change log) through
`client.changes` in a worker, so the dialog opens at once however large the snapshot
(a host has ~2,000 packages: they go into a `VirtualTable`). A host never collected
says so, with the key that collects it now (`c`, handled by the dialog).
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Static

from console.changes.model import Change, Package, Service
from console.engine.client import ChangesAdmin
from console.errors import OpsError
from screens.change_format import change_cells
from screens.context import client_of
from screens.diff_view import ChangeDiff
from screens.format import clock, short_clock
from screens.vtable import Column, VirtualTable

NOT_COLLECTED = "has not been collected yet"  # the engine's UsageError says this
HOST_CHANGES = 200  # the newest changes of the host in its Changes tab
FAILED_STATES = {"failed"}
STOPPED_STATES = {"inactive", "stopped", "dead", "deactivating"}


def days_and_hours(seconds: int) -> str:
    days, rest = divmod(max(0, seconds), 86400)
    return (
        f"{days}d {rest // 3600}h {rest % 3600 // 60:02d}m"
        if days
        else (f"{rest // 3600}h {rest % 3600 // 60:02d}m")
    )


def facts_text(facts: dict[str, Any]) -> str:
    """The facts JSON as labelled lines, disks last (one line each); the collection
    time is the tab's note line."""
    os_info = facts.get("os", {})
    os_text = " ".join(p for p in (os_info.get("name"), os_info.get("version")) if p)
    rows = [
        ("Hostname", facts.get("hostname")),
        ("FQDN", facts.get("fqdn")),
        ("OS", f"{os_text} ({os_info.get('family') or '?'})"),
        ("Kernel", f"{facts.get('kernel') or '?'} {facts.get('arch') or ''}"),
        ("CPUs", facts.get("cpus")),
        ("Memory", f"{facts.get('memory_mb', 0):,} MB"),
        ("IPv4", ", ".join(facts.get("ipv4", ())) or "-"),
        ("IPv6", ", ".join(facts.get("ipv6", ())) or "-"),
        ("Uptime", days_and_hours(int(facts.get("uptime_s", 0)))),
        ("Booted", clock(facts.get("boot_time") or None)),
        ("Machine id", facts.get("machine_id")),
        ("Virtual", facts.get("virtualization") or "none detected"),
    ]
    lines = [f"{label:<11} {value if value not in (None, '') else '-'}" for label, value in rows]
    lines.append("Disks")
    for disk in facts.get("disks", ()):
        size, used = disk.get("size_mb", 0), disk.get("used_mb", 0)
        share = f" ({used * 100 // size}%)" if size else ""
        lines.append(
            f"  {disk.get('mount', ''):<14} {disk.get('device', ''):<16} "
            f"{disk.get('fstype', ''):<6} {size:>9,} MB {used:>9,} used{share}"
        )
    return "\n".join(lines)


def service_class(column: int, text: str) -> str | None:
    """Failed services in the error colour, stopped ones in the warning colour."""
    if column != 1:
        return None
    if text in FAILED_STATES:
        return "status--failed"
    return "status--running" if text in STOPPED_STATES else None


class InventoryTab(Vertical):
    """One tab: a note line (errors, "not collected", counts) above its content."""

    def __init__(self, host: str, *, id: str) -> None:
        super().__init__(id=id)
        self.host = host
        self.loaded = False

    def note(self, text: str, error: bool = False) -> None:
        note = self.query_one(".tab-note", Static)
        note.update(text)
        note.set_class(error, "error")

    @property
    def main(self) -> Widget:
        """The widget that takes the focus when the tab is shown."""
        raise NotImplementedError

    @work(exclusive=True)
    async def load(self) -> None:
        self.loaded = True
        try:
            await self.fetch(client_of(self).changes)
        except OpsError as exc:
            if NOT_COLLECTED in str(exc):
                self.note(f"{self.host} has not been collected yet: press c to collect it now.")
            else:
                self.note(f"Cannot read {self.host}: {exc}", error=True)

    async def fetch(self, changes: ChangesAdmin) -> None:
        raise NotImplementedError


class FactsTab(InventoryTab):
    def compose(self) -> ComposeResult:
        yield Static("(reading facts...)", classes="tab-note", markup=False)
        with VerticalScroll(classes="tab-body"):
            yield Static("", id="facts-text", markup=False)

    @property
    def main(self) -> Widget:
        return self.query_one(".tab-body")

    async def fetch(self, changes: ChangesAdmin) -> None:
        facts = await changes.facts(self.host)
        self.note(f"From the collection of {clock(facts.get('collected'))}")
        self.query_one("#facts-text", Static).update(facts_text(facts))


class SoftwareTab(InventoryTab):
    def __init__(self, host: str, *, id: str) -> None:
        super().__init__(host, id=id)
        self.packages: list[Package] = []

    def compose(self) -> ComposeResult:
        yield Static("(reading packages...)", classes="tab-note", markup=False)
        yield Input(placeholder="filter packages by name (/)", id="software-filter")
        yield VirtualTable(
            (Column("Name", 28), Column("Version", 26), Column("Arch", 7), Column("Source", 6)),
            empty_text="No packages.",
            id="software-table",
        )

    @property
    def main(self) -> Widget:
        return self.table

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#software-table", VirtualTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#software-filter", Input)

    async def fetch(self, changes: ChangesAdmin) -> None:
        self.packages = await changes.software(self.host)
        self.show_packages()

    @on(Input.Changed, "#software-filter")
    def show_packages(self) -> None:
        """Filtered here, not by the engine: the host's packages are already loaded."""
        needle = self.filter_input.value.strip().lower()
        shown = [p for p in self.packages if needle in p.name.lower()]
        self.table.set_rows(
            [(f"{p.name}:{p.arch}", (p.name, p.version, p.arch, p.source)) for p in shown]
        )
        total = len(self.packages)
        if needle:
            self.note(f"{len(shown):,} of {total:,} packages matching {needle!r}")
        else:
            self.note(f"{total:,} packages  (/ filter by name)")

    @on(Input.Submitted, "#software-filter")
    def _back_to_list(self) -> None:
        self.table.focus()


class ServicesTab(InventoryTab):
    def compose(self) -> ComposeResult:
        yield Static("(reading services...)", classes="tab-note", markup=False)
        yield VirtualTable(
            (
                Column("Name", 23),
                Column("State", 10),
                Column("Enabled", 9),
                Column("Manager", 7),
                Column("Started", 14),
            ),
            service_class,
            empty_text="No services.",
            id="services-table",
        )

    @property
    def main(self) -> Widget:
        return self.query_one("#services-table")

    async def fetch(self, changes: ChangesAdmin) -> None:
        services: list[Service] = await changes.services(self.host)
        self.query_one("#services-table", VirtualTable).set_rows(
            [
                (s.name, (s.name, s.state, s.enabled or "-", s.manager, short_clock(s.started)))
                for s in services
            ]
        )
        failed = sum(s.state in FAILED_STATES for s in services)
        stopped = sum(s.state in STOPPED_STATES for s in services)
        self.note(f"{len(services)} services: {failed} failed, {stopped} stopped")


class HostChangesTab(InventoryTab):
    def __init__(self, host: str, *, id: str) -> None:
        super().__init__(host, id=id)
        self.changes: dict[str, Change] = {}

    def compose(self) -> ComposeResult:
        yield Static("(reading changes...)", classes="tab-note", markup=False)
        yield VirtualTable(
            (
                Column("Time", 11),
                Column("Type", 8),
                Column("Change", 8),
                Column("Name", 20),
                Column("Before -> after", 12),
            ),
            empty_text="No changes recorded for this host.",
            id="host-changes-table",
        )

    @property
    def main(self) -> Widget:
        return self.query_one("#host-changes-table")

    async def fetch(self, changes: ChangesAdmin) -> None:
        found = await changes.changes(host=self.host, limit=HOST_CHANGES)
        self.changes = {c.id: c for c in found}
        self.query_one("#host-changes-table", VirtualTable).set_rows(
            [(c.id, change_cells(c, with_host=False)) for c in found]
        )
        more = "+" if len(found) == HOST_CHANGES else ""
        self.note(f"{len(found)}{more} changes, newest first  (Enter shows the diff)")

    @on(VirtualTable.Selected, "#host-changes-table")
    def _selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        change = self.changes.get(event.key)
        if change is not None:
            self.app.push_screen(ChangeDiff(change))
