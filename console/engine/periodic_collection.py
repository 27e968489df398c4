"""The periodic collection: a long-lived engine (`serve`, the console) collects each
host of the inventory every `tracking interval` (default 15 minutes), so changes are
seen minutes after they happen, not hours (Azure's Change Tracking users wait up to
six).

Each host keeps its own rhythm: a host is due `interval` after its last collection
started (a restarted engine reads that from the snapshots, so it does not collect
every host at once), and all hosts due at one moment are collected together, each
over the pool's connections like a job. A host that fails is tried again an interval
later. The loop looks again at least every `LOOK_EVERY` seconds, so a host added to
the inventory is collected within a minute, and at once when the interval changes.
Alerts fire from here as from `inventory collect` (console.engine.change_alerts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from console.engine.background import Background
from console.engine.inventory_data import HostCollection, InventoryData

log = logging.getLogger(__name__)

LOOK_EVERY = 60.0  # seconds: the longest wait between two looks at what is due
SOONEST = 1.0  # seconds: the shortest wait (hosts falling due one after another)


class PeriodicCollection:
    """Runs `InventoryData.collect_hosts` on the hosts that are due, forever."""

    def __init__(self, data: Callable[[], InventoryData]) -> None:
        self._data = data
        self._loop = Background("periodic collection", self.run_due, LOOK_EVERY)
        self.stop = self._loop.stop

    def start(self) -> None:
        self._data().interval_changed = self._loop.wake
        self._loop.start()

    async def run_due(self, now: float | None = None) -> float:
        """Collect the hosts due at `now` (default: now); the seconds until the next look."""
        now = time.time() if now is None else now
        data = self._data()
        interval = data.tracking.interval()
        if interval is None:
            return LOOK_EVERY
        due, next_due = data.due_hosts(interval, now)
        if due:
            _log_round(await data.collect_hosts(due))
        return min(LOOK_EVERY, max(SOONEST, next_due - now))


def _log_round(results: list[HostCollection]) -> None:
    failed = [r for r in results if not r.ok]
    for result in failed:
        log.warning("collection of %s failed: %s: %s", result.host, result.error_kind, result.error)
    log.info(
        "periodic collection done",
        extra={
            "hosts": len(results),
            "changes": sum(r.changes for r in results),
            "failed": len(failed),
        },
    )
