"""`Background`: the loop of a long-lived engine's periodic work (the periodic
collection, the periodic assessment, the desired-state modes): run a step, wait as
long as it says (or until woken), forever, until stopped.

A step that fails never ends the loop: an OpsError (the inventory file broken just
now, say) is logged as a warning, anything else as a bug with its traceback, and the
step runs again after `retry` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from console.errors import OpsError

log = logging.getLogger(__name__)


class Background:
    """Runs `step` (which returns the seconds until it wants to run again) forever."""

    def __init__(self, what: str, step: Callable[[], Awaitable[float]], retry: float) -> None:
        self._what = what
        self._step = step
        self._retry = retry
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name=self._what)

    def wake(self) -> None:
        """Run the step now rather than when it asked to."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _forever(self) -> None:
        while True:
            try:
                wait = await self._step()
            except OpsError as exc:
                log.warning("%s: %s; trying again in %gs", self._what, exc, self._retry)
                wait = self._retry
            except Exception:  # a bug: logged, and tried again later
                log.exception("%s failed; trying again in %gs", self._what, self._retry)
                wait = self._retry
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
