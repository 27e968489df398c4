"""The configurations' modes, run by a long-lived engine (`serve`, the console) at each
configuration's `frequency`, as Azure State Configuration's consistency checks:

* ApplyOnly: apply once (to each target host, and again when the configuration
  changes), then only on request;
* ApplyAndMonitor: apply once likewise, then check at every run and report drift;
* ApplyAndAutoCorrect: apply at every run, so drift is corrected.

A host is due `frequency` after its last report of the configuration (a Pending host
at once; one that was Unresponsive is tried again a frequency later). Due hosts of a
configuration run together: one apply job and one check job at most, never while the
configuration's previous job is still running. An edited configuration (a new
digest) is applied at the next look to the hosts it was last applied to in another
version: those changes are intentional, the ones after drift corrective. The loop
looks at least every `LOOK_EVERY` seconds, so an edit or a new host is picked up
within a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.engine.background import Background
from console.engine.state_service import StateService
from console.inventory.model import Host
from console.jobs.model import Trigger
from console.state.model import Configuration, Mode
from console.state.store import Summary

LOOK_EVERY = 60.0
SOONEST = 1.0


class StateSchedule:
    """Starts the check and apply jobs the configurations' modes call for."""

    def __init__(self, state: Callable[[], StateService], busy: Callable[[str], bool]) -> None:
        self._state = state
        self._busy = busy  # is a job of trigger_ref "state:NAME" still active?
        self._loop = Background("desired state", self.run_due, LOOK_EVERY)
        self.start, self.stop = self._loop.start, self._loop.stop

    async def run_due(self, now: float | None = None) -> float:
        """Start what is due at `now` (default: now); the seconds until the next look."""
        now = time.time() if now is None else now
        state = self._state()
        summaries = state.store.summaries()
        next_look = now + LOOK_EVERY
        for configuration in state.loaded():
            if self._busy(f"state:{configuration.name}"):
                continue
            apply, check, next_due = _due(
                configuration, state.targets(configuration), summaries, now
            )
            next_look = min(next_look, next_due)
            for kind, hosts in (("apply", apply), ("check", check)):
                if hosts:
                    await state.start(configuration, kind, None, Trigger.SCHEDULE, hosts)
        return max(SOONEST, next_look - now)


def _due(
    configuration: Configuration,
    hosts: list[Host],
    summaries: dict[tuple[str, str], Summary],
    now: float,
) -> tuple[list[Host], list[Host], float]:
    """The hosts to apply to, the hosts to check, and when the next one falls due."""
    apply: list[Host] = []
    check: list[Host] = []
    next_due = now + configuration.frequency_s
    for host in hosts:
        summary = summaries.get((host.name, configuration.name))
        applied = summary is not None and summary.applied == configuration.digest
        if configuration.mode is Mode.APPLY_ONLY and applied:
            continue
        when = 0.0 if summary is None else summary.time + configuration.frequency_s
        if not applied and summary is not None and summary.digest != configuration.digest:
            when = 0.0  # the configuration changed: apply it now, not a frequency later
        if when > now:
            next_due = min(next_due, when)
        elif configuration.mode is Mode.APPLY_AND_MONITOR and applied:
            check.append(host)
        else:
            apply.append(host)
    return apply, check, next_due
