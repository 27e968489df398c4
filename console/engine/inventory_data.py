"""The engine's side of inventory data and change tracking (`ChangesAdmin`).

It collects a pattern's hosts through the engine's own transport pool (the same
connections, credentials and `forks` bound as jobs), all at once, and records each
snapshot in the `ChangeStore`: a host that fails has no snapshot, so nothing is
recorded for it and no change is invented. The rest reads the latest snapshots, the
change log and the tracking configuration. The store is opened at first use, so an
engine that never tracks anything never creates `<data_dir>/changes/`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.changes.codec import facts_to_dict
from console.changes.collector import DEFAULT_MAX_CONTENT, collect
from console.changes.model import Change, Package, Service, Snapshot, TrackedPath
from console.changes.store import ChangeStore
from console.changes.tracking import Alert, Tracking
from console.engine.change_alerts import AlertFirer, StartJob
from console.errors import HostError, OpsError, UsageError
from console.inventory.model import Host, Inventory
from console.store import Store
from console.transports.base import Transport


@dataclass(frozen=True)
class HostCollection:
    """How one host's collection went: `error_kind` (a HostError kind such as
    `unreachable`) and `error` say why it failed (then nothing was recorded);
    `unmatched` lists tracked globs that matched nothing there; `alert_jobs` the jobs
    that alerts started for its changes."""

    host: str
    ok: bool
    changes: int = 0
    error_kind: str = ""
    error: str = ""
    unmatched: tuple[str, ...] = ()
    alert_jobs: tuple[str, ...] = ()


# Checks an alert's runbook, parameters and pattern (None: the changed host) when it is
# added; raises the OpsError that says what does not fit.
CheckAlert = Callable[[str, str | None, Mapping[str, str]], None]


class InventoryData:
    """`console.engine.client.ChangesAdmin` of the engine that owns the data directory."""

    def __init__(
        self,
        data_dir: Path,
        store: Store,
        inventory: Callable[[], Inventory],
        transport: Callable[[Host], Transport],
        start_job: StartJob,
        check_alert: CheckAlert,
        max_content: int = DEFAULT_MAX_CONTENT,
    ) -> None:
        self._data_dir = data_dir
        self._inventory = inventory
        self._transport = transport
        self._max_content = max_content
        self._check_alert = check_alert
        self.tracking = Tracking(store)
        self._alerts = AlertFirer(self.tracking, inventory, start_job)
        self._changes: ChangeStore | None = None
        self._attempted: dict[str, float] | None = None  # host -> last collection started
        # The periodic collection's wake-up, called when the interval changes.
        self.interval_changed: Callable[[], None] = lambda: None

    @property
    def store(self) -> ChangeStore:
        if self._changes is None:
            self._changes = ChangeStore(self._data_dir)
        return self._changes

    # -- collection -----------------------------------------------------------------

    async def collect(self, pattern: str = "all") -> list[HostCollection]:
        """Collect every host of `pattern` at once; one result per host, in order."""
        inventory = self._inventory()
        hosts = inventory.select(pattern)
        if not hosts:
            raise UsageError(f"the pattern {pattern!r} matches no host in {inventory.path}")
        return await self.collect_hosts(hosts)

    async def collect_hosts(self, hosts: list[Host]) -> list[HostCollection]:
        plan = self.tracking.files_by_host([h.name for h in hosts], self._inventory())
        attempted = self._last_attempts()
        now = time.time()
        for host in hosts:
            attempted[host.name] = now
        return list(
            await asyncio.gather(*(self._collect_one(host, plan[host.name]) for host in hosts))
        )

    async def _collect_one(self, host: Host, tracked: list[TrackedPath]) -> HostCollection:
        try:
            snapshot = await collect(
                self._transport(host), host.name, tracked, max_content=self._max_content
            )
        except HostError as error:
            return HostCollection(host.name, False, error_kind=error.kind, error=error.detail)
        except OpsError as error:
            return HostCollection(host.name, False, error_kind="error", error=str(error))
        changes = await asyncio.to_thread(self.store.record, snapshot)
        jobs = await self._alerts.fire(changes)
        return HostCollection(
            host.name, True, len(changes), unmatched=snapshot.unmatched, alert_jobs=tuple(jobs)
        )

    def due_hosts(self, interval: float, now: float) -> tuple[list[Host], float]:
        """The hosts whose last collection started `interval` or more ago (or never),
        and when the next of the others falls due: what the periodic collection runs."""
        attempted = self._last_attempts()
        due: list[Host] = []
        next_due = now + interval
        for host in self._inventory().hosts.values():
            when = attempted.get(host.name, 0.0) + interval
            if when <= now:
                due.append(host)
            else:
                next_due = min(next_due, when)
        return due, next_due

    def _last_attempts(self) -> dict[str, float]:
        """When each host's collection last started: in memory, seeded from the
        snapshots' times so a restarted engine does not collect everything at once."""
        if self._attempted is None:
            self._attempted = self.store.collected_times() if self._has_store() else {}
        return self._attempted

    def _has_store(self) -> bool:
        return self._changes is not None or (self._data_dir / "changes").is_dir()

    def apply_retention(self, days: float) -> int:
        """Remove changes older than `days`; 0 when nothing was ever collected."""
        return self.store.apply_retention(days=days) if self._has_store() else 0

    # -- the latest snapshot of a host ----------------------------------------------

    async def facts(self, host: str) -> dict[str, Any]:
        """The issue's facts JSON of the host's latest snapshot."""
        snapshot = self._latest(host)
        return facts_to_dict(snapshot.facts, snapshot.collected)

    async def software(self, host: str, text: str | None = None) -> list[Package]:
        """The host's packages by name; `text` keeps those whose name holds it."""
        needle = (text or "").lower()
        packages = self._latest(host).software
        return sorted((p for p in packages if needle in p.name.lower()), key=_by_name)

    async def services(self, host: str) -> list[Service]:
        return sorted(self._latest(host).services, key=_by_name)

    def _latest(self, host: str) -> Snapshot:
        inventory = self._inventory()
        if host not in inventory.hosts:
            raise UsageError(f"no host {host!r} in {inventory.path}")
        snapshot = self.store.latest(host)
        if snapshot is None:
            raise UsageError(
                f"{host} has not been collected yet: run `opsconsole inventory collect "
                f"{host}` (or add --refresh)"
            )
        return snapshot

    # -- the change log -------------------------------------------------------------

    async def changes(
        self,
        host: str | None = None,
        type: str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Change]:
        """Newest first (see `ChangeStore.list_changes`)."""
        return self.store.list_changes(
            host=host, type=type, since=since, text=text, limit=limit, before_id=before_id
        )

    async def change(self, change_id: str) -> Change:
        return self.store.get_change(change_id)

    # -- the tracking configuration -------------------------------------------------

    async def add_file(self, path: str, pattern: str = "all", content: bool = True) -> TrackedPath:
        return self.tracking.add_file(path, pattern, content)

    async def remove_file(self, path: str) -> TrackedPath:
        """The path no longer tracked (UsageError naming the tracked ones if it was not)."""
        removed = next((t for t in self.tracking.files() if t.path == path), None)
        self.tracking.remove_file(path)
        assert removed is not None  # remove_file raised otherwise
        return removed

    async def files(self) -> list[TrackedPath]:
        return self.tracking.files()

    async def interval(self) -> float | None:
        return self.tracking.interval()

    async def set_interval(self, seconds: float | None) -> float | None:
        self.tracking.set_interval(seconds)
        self.interval_changed()
        return self.tracking.interval()

    # -- alerts ---------------------------------------------------------------------

    async def add_alert(
        self,
        name: str,
        when: str,
        runbook: str,
        pattern: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Alert:
        """Checked like a schedule's job (runbook, parameters, pattern) before it is kept."""
        self.tracking.check_alert_name(name)
        self._check_alert(runbook, pattern, dict(parameters or {}))
        return self.tracking.add_alert(name, when, runbook, pattern, parameters)

    async def remove_alert(self, name: str) -> Alert:
        removed = next((a for a in self.tracking.alerts() if a.name == name), None)
        self.tracking.remove_alert(name)
        assert removed is not None  # remove_alert raised otherwise
        return removed

    async def alerts(self) -> list[Alert]:
        return self.tracking.alerts()


def _by_name(item: Package | Service) -> str:
    return item.name
