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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.changes.codec import facts_to_dict
from console.changes.collector import DEFAULT_MAX_CONTENT, collect
from console.changes.model import Change, Package, Service, Snapshot, TrackedPath
from console.changes.store import ChangeStore
from console.changes.tracking import Tracking
from console.errors import HostError, OpsError, UsageError
from console.inventory.model import Host, Inventory
from console.store import Store
from console.transports.base import Transport


@dataclass(frozen=True)
class HostCollection:
    """How one host's collection went: `error_kind` (a HostError kind such as
    `unreachable`) and `error` say why it failed (then nothing was recorded);
    `unmatched` lists tracked globs that matched nothing there."""

    host: str
    ok: bool
    changes: int = 0
    error_kind: str = ""
    error: str = ""
    unmatched: tuple[str, ...] = ()


class InventoryData:
    """`console.engine.client.ChangesAdmin` of the engine that owns the data directory."""

    def __init__(
        self,
        data_dir: Path,
        store: Store,
        inventory: Callable[[], Inventory],
        transport: Callable[[Host], Transport],
        max_content: int = DEFAULT_MAX_CONTENT,
    ) -> None:
        self._data_dir = data_dir
        self._inventory = inventory
        self._transport = transport
        self._max_content = max_content
        self.tracking = Tracking(store)
        self._changes: ChangeStore | None = None

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
        plan = self.tracking.files_by_host([h.name for h in hosts], inventory)
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
        return HostCollection(host.name, True, len(changes), unmatched=snapshot.unmatched)

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


def _by_name(item: Package | Service) -> str:
    return item.name
