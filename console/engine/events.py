"""A tiny in-process publish/subscribe hub for engine events.

The runner publishes job changes and stream records; the console UI, the control API
(for attached clients) and `opsconsole run`'s live follow subscribe. Callbacks run
synchronously on the engine's loop and must be quick; a failing subscriber is
dropped from the call, never allowed to break the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from console.engine.client import EngineEvent, EventCallback

log = logging.getLogger(__name__)


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
