"""Job events, and a tiny in-process publish/subscribe hub for them.

The runner publishes job changes and stream records; the console UI, the control API
(for attached clients) and `opsconsole run`'s live follow subscribe. Callbacks run
synchronously on the engine's loop and must be quick; a failing subscriber is
dropped from the call, never allowed to break the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from console.jobs.model import HostRun, Job, StreamRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineEvent:
    """Something changed in one job: its own state (`job`: the whole job), one host
    run's state (`run`: that run alone, so a host's change costs the same in a
    10,000-host job as in a 1-host one), or new stream records.

    `missed` (with an empty `job_id`) says events were lost on the way (an attached
    client that read too slowly): whoever keeps state from events must re-read it."""

    job_id: str
    job: Job | None = None
    run: HostRun | None = None
    records: Sequence[StreamRecord] = ()
    missed: bool = False


EventCallback = Callable[[EngineEvent], None]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[EventCallback] = []

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: EngineEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed; continuing")
