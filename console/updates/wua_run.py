"""Assessing and installing Windows updates on one host: the scripts of
`console.updates.wua_script` run, their JSON read by `console.updates.wua_parse`.

`console.updates.assess` and `console.updates.deploy` call these for a Windows host
and re-raise a failed script as their own error kind, so a Windows host's failure
reads like a Linux host's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from console.transports.base import Transport
from console.updates.model import Assessment, PackageResult, PendingUpdate, Selection
from console.updates.wua_parse import parse_assessment, parse_install
from console.updates.wua_script import (
    INSTALL_BATCH,
    assess_script,
    install_script,
    install_task_script,
)
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
    docs = [await _install_batch(transport, host_name, batch, deadline) for batch in batches]
    if not batches:  # nothing selected: no task needed to read whether a reboot is pending
        docs.append(await run_json(transport, host_name, install_script([], 0), None))
    return parse_install(docs, pending, selection)


async def _install_batch(
    transport: Transport, host_name: str, batch: Sequence[str], deadline: float
) -> Any:
    """One batch, through a scheduled task (see console.updates.wua_script): the install
    script is uploaded to a private folder, the wrapper runs it and prints its result,
    and the folder is removed whatever happens."""
    workdir = await transport.make_workdir()
    try:
        script_path, result_path = f"{workdir}\\wua-install.ps1", f"{workdir}\\wua-result.json"
        script = install_script(batch, deadline - time.time(), result_path)
        await transport.upload(script.encode("utf-8-sig"), script_path)
        wrapper = install_task_script(batch, script_path, result_path)
        return await run_json(transport, host_name, wrapper, None)
    finally:
        await asyncio.shield(transport.remove_workdir(workdir))
