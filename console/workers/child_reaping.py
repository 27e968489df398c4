"""How a worker process learns that its commands ended: through pidfds, not threads.

Before Python 3.12, asyncio reaps each subprocess with a thread of its own
(`ThreadedChildWatcher`), and starting a command waits until that thread runs. A
worker does all its work on one thread, and on a busy machine (the worker, the engine,
nats-server and the commands sharing the cores) that wait cost it about 0.6 ms a host
run in lock waits (cProfile, bench/workers/README.md, third pass). A pidfd (Linux 5.3
and later) tells the event loop itself that a child ended: no thread, no wait. Python
3.12 makes this its default where pidfds work; this applies the same choice on 3.11.

The engine keeps asyncio's default: measured there, with a core to spare for the
threads, the pidfd watcher gained nothing (bench/workers/README.md).
"""

from __future__ import annotations

import asyncio
import os
import sys


def reap_with_pidfds(loop: asyncio.AbstractEventLoop) -> bool:
    """Make `loop` reap subprocesses through pidfds; False (asyncio's default kept)
    where Python does so already or the kernel has no pidfds."""
    if sys.version_info >= (3, 12) or not _pidfds_work():
        return False
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    asyncio.set_child_watcher(watcher)
    return True


def _pidfds_work() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
        return False
    return True
