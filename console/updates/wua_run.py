"""Assessing and installing Windows updates on one host: the scripts of
`console.updates.wua_script` run, their JSON read by `console.updates.wua_parse`.

`console.updates.assess` and `console.updates.deploy` call these for a Windows host
and re-raise a failed script as their own error kind, so a Windows host's failure
reads like a Linux host's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from console.transports.base import Transport
from console.updates.model import Assessment, PackageResult, PendingUpdate, Selection
from console.updates.wua_parse import parse_assessment, parse_install
from console.updates.wua_script import INSTALL_BATCH, assess_script, install_script
from console.windows.powershell import run_json


async def assess_windows(
    transport: Transport, host_name: str, refresh: bool, timeout: float
) -> Assessment:
    """The host's pending Windows updates; a failed search is an Assessment `error`."""
    doc = await run_json(transport, host_name, assess_script(refresh), timeout)
    return parse_assessment(doc, host_name, time.time())


async def install_windows(
    transport: Transport,
    host_name: str,
    pending: Sequence[PendingUpdate],
    selection: Selection,
    deadline: float,
) -> tuple[tuple[PackageResult, ...], bool]:
    """Install the selected updates in batches (one run each, so every script fits a
    command line), none starting after `deadline` minus PACKAGE_MARGIN_S; no time
    limit on a run, as on Linux: an install already started is never cut off.
    Returns a result per pending update and whether the host wants a reboot."""
    ids = [update.update_id for update in pending if selection.picks(update)]
    # Nothing selected still runs once: the answer says whether a reboot is pending.
    batches = [ids[start : start + INSTALL_BATCH] for start in range(0, len(ids), INSTALL_BATCH)]
    docs = []
    for batch in batches or [[]]:
        script = install_script(batch, deadline - time.time())
        docs.append(await run_json(transport, host_name, script, None))
    return parse_install(docs, pending, selection)
