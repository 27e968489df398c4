"""The engine's own change tracking, on a real engine collecting the local machine:
the periodic collection (who is due when), alerts starting runbooks with ChangeData,
and the daily retention of old changes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.changes.store import ChangeStore
from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.engine.periodic_collection import LOOK_EVERY, PeriodicCollection
from console.errors import UsageError
from console.jobs.model import JobStatus, Trigger
from console.settings import Settings
from tests.changes.test_diff import snapshot
from tests.changes.test_store import with_package

DAY = 86400.0
CHANGE_RUNBOOK = """#!/bin/sh
# /// runbook
# description = "prints the ChangeData it was started with"
# ///
printf '%s\\n' "$OPS_CHANGE_DATA"  # dash's echo would expand the \\n in it
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "on-change.sh").write_text(CHANGE_RUNBOOK)
    return Settings(inventory=inventory, data_dir=tmp_path / "data", runbooks=runbooks)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings, EngineOptions()) as started:
        yield started


async def finished(engine: Engine, job_id: str) -> JobStatus:
    for _ in range(600):
        job = await engine.job(job_id)
        if job.status.finished:
            return job.status
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job.status}")


async def test_hosts_are_collected_when_due_and_not_before(engine: Engine, tmp_path: Path) -> None:
    watched = tmp_path / "watched.conf"
    watched.write_text("port 22\n")
    data = engine.changes
    await data.add_file(str(watched))
    periodic = PeriodicCollection(lambda: engine.changes)
    start = time.time()

    wait = await periodic.run_due(start)  # never collected: due at once
    assert (await data.facts("localhost"))["collected"] >= start
    assert 1 <= wait <= LOOK_EVERY
    watched.write_text("port 2222\n")
    await periodic.run_due(start + 899)  # within the 15 minutes: not collected again
    assert await data.changes() == []
    await periodic.run_due(start + 901)
    (change,) = await data.changes()
    assert (change.type, change.change, change.name) == ("file", "modified", str(watched))

    await data.set_interval(None)  # off: nothing is collected however late it is
    watched.write_text("port 3333\n")
    await periodic.run_due(start + 10 * DAY)
    assert len(await data.changes()) == 1


async def test_a_restarted_engine_knows_when_hosts_were_collected(settings: Settings) -> None:
    async with Engine(settings, EngineOptions()) as first:
        await first.changes.collect("localhost")
    async with Engine(settings, EngineOptions()) as second:
        due, next_due = second.changes.due_hosts(900, time.time())
        assert due == [] and next_due > time.time() + 800
        due, _ = second.changes.due_hosts(900, time.time() + 901)
        assert [h.name for h in due] == ["localhost"]


async def test_an_alert_starts_its_runbook_with_the_change_as_change_data(
    engine: Engine, tmp_path: Path
) -> None:
    watched = tmp_path / "passwd"
    watched.write_text("root:x:0:0\n")
    data = engine.changes
    await data.add_file(str(watched))
    await data.add_alert("passwd", f"type=file name={watched}", "on-change")
    assert [r.alert_jobs for r in await data.collect("localhost")] == [()]  # the baseline

    watched.write_text("root:x:0:0\nmallory:x:0:0\n")
    (result,) = await data.collect("localhost")
    (job_id,) = result.alert_jobs
    assert await finished(engine, job_id) is JobStatus.COMPLETED
    job = await engine.job(job_id)
    assert (job.trigger, job.trigger_ref, job.started_by) == (
        Trigger.ALERT,
        "passwd",
        "alert:passwd",
    )
    assert job.hosts == ["localhost"]
    (line,) = [r.text for r in await engine.streams(job_id) if r.stream == "output"]
    sent = json.loads(line)
    (change,) = await data.changes()
    assert sent["id"] == change.id and sent["alert"] == "passwd"
    assert (sent["type"], sent["change"], sent["name"]) == ("file", "modified", str(watched))
    assert "+mallory:x:0:0" in sent["diff"]
    assert "content" not in sent["after"]  # the diff says it; the job keeps no file copy

    watched.write_text("root:x:0:0\n")
    await data.remove_alert("passwd")
    assert [r.alert_jobs for r in await data.collect("localhost")] == [()]


async def test_an_alert_is_checked_when_added(engine: Engine) -> None:
    data = engine.changes
    with pytest.raises(UsageError, match="no-such"):
        await data.add_alert("a1", "type=file", "no-such.sh")
    with pytest.raises(UsageError, match="unknown key 'kind'"):
        await data.add_alert("a1", "kind=file", "on-change")
    with pytest.raises(UsageError, match="matches no host"):
        await data.add_alert("a1", "type=file", "on-change", pattern="nowhere")
    with pytest.raises(UsageError, match="not an alert name"):
        await data.add_alert("bad name", "type=file", "on-change")
    assert await data.alerts() == []


async def test_a_serving_engine_drops_changes_older_than_retention(settings: Settings) -> None:
    store = ChangeStore(settings.data_dir)
    now = time.time()
    store.record(snapshot(), now=now - 40 * DAY)
    store.record(with_package(snapshot(), "old"), now=now - 31 * DAY)
    store.record(with_package(snapshot(), "new"), now=now - DAY)
    options = EngineOptions(triggers=True, listen="127.0.0.1:0")
    async with Engine(settings, options) as engine:
        for _ in range(600):
            names = [(c.name, c.change) for c in await engine.changes.changes()]
            if len(names) == 2:
                break
            await asyncio.sleep(0.05)
    assert sorted(names) == [("new", "added"), ("old", "removed")]
