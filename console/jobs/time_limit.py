"""A job's time limit as each of its host runs sees it.

One deadline bounds a host run whole: connecting, preparing the workdir, uploading and
the command. Steps that have no timeout of their own run under `bound`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from console.errors import TimedOut
from console.inventory.model import Host

T = TypeVar("T")


class TimeLimit:
    """`seconds` from now (or no limit when None)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    async def bound(self, step: Coroutine[Any, Any, T], host: Host, doing: str) -> T:
        """Await `step`, cancelling it (which ends any remote command it started) and
        raising TimedOut when the limit runs out first. The step runs as its own task
        because a transport turns its cancellation into `Cancelled`, which must not be
        mistaken for the job being stopped."""
        left = self.left()
        if left is None:
            return await step
        task = asyncio.ensure_future(step)
        try:
            done, _ = await asyncio.wait({task}, timeout=left)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not done:
            raise TimedOut(host.name, f"{doing} the job's {self.seconds:g} s time limit")
        return task.result()
