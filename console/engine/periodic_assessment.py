"""The periodic assessment: a long-lived engine (`serve`, the console) assesses each
host's pending updates every `DEFAULT_REASSESS_S` (6 hours), refreshing the package
lists, so the Updates pane is never hours behind what the repositories hold (Azure's
users waited 2-15 hours for new updates to show). A deployment assesses its hosts
again as it ends, so their next periodic assessment is 6 hours after that.

Hosts due at one look are assessed in one job (trigger `schedule`, started by
`schedule:updates`), never while the previous one still runs; a host never assessed is
due at once, one whose assessment failed 6 hours later. The loop looks every
`LOOK_EVERY` seconds, so a host added to the inventory is assessed within a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.engine.background import Background
from console.engine.updates_service import UpdatesService
from console.jobs.model import Trigger
from console.updates.model import DEFAULT_REASSESS_S

LOOK_EVERY = 60.0


class PeriodicAssessment:
    def __init__(self, updates: Callable[[], UpdatesService], busy: Callable[[], bool]) -> None:
        self._updates = updates
        self._busy = busy  # is the previous periodic assessment still running?
        self._loop = Background("periodic assessment", self._look, LOOK_EVERY)
        self.start, self.stop = self._loop.start, self._loop.stop

    async def _look(self) -> float:
        await self.run_due()
        return LOOK_EVERY

    async def run_due(self, now: float | None = None) -> list[str]:
        """Start an assessment of the hosts due at `now`; the hosts it covers."""
        if self._busy():
            return []
        now = time.time() if now is None else now
        updates = self._updates()
        latest = updates.store.all_latest()
        due = [
            name
            for name in updates.host_names()
            if name not in latest or latest[name].assessed + DEFAULT_REASSESS_S <= now
        ]
        if due:
            await updates.assess("all", refresh=True, trigger=Trigger.SCHEDULE, only=due)
        return due
