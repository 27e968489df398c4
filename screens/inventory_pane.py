"""The Inventory pane: every host with its groups, address, connection, reachability,
OS and last job result.

Filtering (`/`): text containing any Ansible pattern character (`: & ! * ? [ ~ = ,`) is
evaluated by the engine (`client.hosts(pattern)`, e.g. `web:&prod:!web03`); plain text
is a case-insensitive substring match on the host name and its group names, which is
what an operator typing "web" expects. Reachability and OS come from `client.probe`,
run in a worker in small batches so rows fill in as answers arrive and the UI never
waits on the network.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from console.engine.client import HostProbe
from console.errors import OpsError
from console.inventory.model import Host
from console.jobs.model import HostRun, Job
from screens.commands import INVENTORY, bindings_for
from screens.context import client_of
from screens.filtered_list import FilteredListPane
from screens.format import status_class
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

PATTERN_CHARS = set(":&!*?[~=,")
PROBE_BATCH = 16
HISTORY_PAGE = 500  # jobs per call while looking for hosts' last jobs in older history
HISTORY_WINDOW = 10_000  # at most this many newest jobs are read for "last job" cells

COLUMNS = (
    Column("Host", 15),
    Column("Groups", 14),
    Column("Address", 15),
    Column("Conn", 5),
    Column("Up", 4),
    Column("OS", 12),
    Column("Last job", 8),
)


def is_pattern(text: str) -> bool:
    return any(ch in PATTERN_CHARS for ch in text)


class InventoryPane(FilteredListPane):
    TABLE_ID = "inventory-table"
    FILTER_ID = "inventory-filter"
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(INVENTORY)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hosts: dict[str, Host] = {}
        self.probes: dict[str, HostProbe] = {}
        self.last_job: dict[str, str] = {}
        self._history_state = ""  # "..." while reading older history, "older" if cut short
        self._haystack: dict[str, str] = {}
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: name, group, or pattern like web:&prod",
            id="inventory-filter",
            classes="filter",
        )
        yield StatusLine("", id="inventory-status", classes="status-line")
        yield VirtualTable(
            COLUMNS, status_class, empty_text="No hosts match.", id="inventory-table"
        )

    # -- data ------------------------------------------------------------------------

    def load(self, hosts: Sequence[Host], jobs: Iterable[Job] = ()) -> None:
        """Show these hosts; `jobs` (newest first) give each host its last result."""
        self.hosts = {h.name: h for h in hosts}
        self._haystack = {h.name: " ".join((h.name, *h.groups)).lower() for h in hosts}
        for job in jobs:
            for name, run in job.host_runs.items():
                self.last_job.setdefault(name, run.status.value)
        self.apply_filter(self.filter_input.value)

    @work(exclusive=True, group="last-jobs")
    async def read_history(self, before_id: str) -> None:
        """Fill the "last job" of hosts the first page of jobs did not cover, reading
        older history page by page (one short store read each, the loop runs between)
        until every host has one, the history ends, or HISTORY_WINDOW jobs were read.
        Cells show "..." meanwhile; "older" when the host ran no job in that window
        (a host that never ran any job always leaves some history unread, and reading
        100,000 jobs at every start is not worth it: the host detail searches it all)."""
        missing = set(self.hosts) - set(self.last_job)
        if not missing:
            return
        self._history_state = "..."
        client = client_of(self)
        read, complete = 0, False
        while missing and read < HISTORY_WINDOW:
            page = await client.jobs(limit=HISTORY_PAGE, before_id=before_id)
            read += len(page)
            for job in page:
                for name, run in job.host_runs.items():
                    if name in missing:
                        missing.discard(name)
                        self.last_job[name] = run.status.value
            if len(page) < HISTORY_PAGE:
                complete = True
                break
            before_id = page[-1].id
        self._history_state = "" if complete or not missing else "older"
        self.apply_filter(self.filter_input.value)

    def cells(self, host: Host) -> tuple[str, ...]:
        probe = self.probes.get(host.name)
        up = "?" if probe is None else ("up" if probe.reachable else "down")
        os_text = "" if probe is None else (probe.os or probe.error)
        groups = ",".join(g for g in host.groups if g not in ("all", "ungrouped"))
        return (
            host.name,
            groups,
            host.address,
            host.connection,
            up,
            os_text,
            self.last_job.get(host.name, self._history_state or "-"),
        )

    def apply_filter(self, text: str) -> None:
        text = text.strip()
        status = self.query_one("#inventory-status", Static)
        try:
            names = self._matching(text)
        except OpsError as exc:
            status.update(f"Pattern error: {exc}")
            status.add_class("error")
            return
        status.remove_class("error")
        self._shown = names
        self.table.set_rows([(n, self.cells(self.hosts[n])) for n in names])
        self.show_status()

    def show_status(self) -> None:
        where, keys = self.filter_hint("p probe  Enter detail")
        self.query_one("#inventory-status", Static).update(
            f"{len(self._shown)} of {len(self.hosts)} hosts{where}   {keys}"
        )

    def _matching(self, text: str) -> list[str]:
        if not text:
            return list(self.hosts)
        if is_pattern(text):
            matched = {h.name for h in client_of(self).hosts(text)}
            return [n for n in self.hosts if n in matched]
        needle = text.lower()
        return [n for n, hay in self._haystack.items() if needle in hay]

    def note_job(self, job: Job) -> None:
        """A job changed: its hosts' "last job" cells follow it."""
        for run in job.host_runs.values():
            self.note_run(run)

    def note_run(self, run: HostRun) -> None:
        """A host run changed: its host's "last job" cell follows it."""
        if run.host in self.hosts:
            self.last_job[run.host] = run.status.value
            self.table.update_row(run.host, self.cells(self.hosts[run.host]))

    # -- actions ---------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "inventory-filter":
            self.apply_filter(event.value)

    def action_probe(self) -> None:
        self.probe(self._shown)

    def action_detail(self) -> None:
        self.table.action_select()

    @work(exclusive=True, group="probe")
    async def probe(self, names: Sequence[str]) -> None:
        """Probe in batches; each batch's answers are shown as soon as it returns."""
        batches = [list(names[i : i + PROBE_BATCH]) for i in range(0, len(names), PROBE_BATCH)]
        self.notify(f"Probing {len(names)} hosts...", timeout=2)
        for next_done in asyncio.as_completed([self._probe_batch(b) for b in batches]):
            for result in await next_done:
                self.probes[result.host] = result
                if result.host in self.hosts:
                    self.table.update_row(result.host, self.cells(self.hosts[result.host]))

    async def _probe_batch(self, names: list[str]) -> list[HostProbe]:
        """One call per batch; if the engine refuses the batch (e.g. a host whose
        connection type it cannot probe), probe its hosts one by one so only that host
        shows the error."""
        client = client_of(self)
        try:
            return await client.probe(names)
        except OpsError as exc:
            if len(names) == 1:
                return [HostProbe(names[0], False, error=str(exc), checked=time.time())]
        return [r for name in names for r in await self._probe_batch([name])]
