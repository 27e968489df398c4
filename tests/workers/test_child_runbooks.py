"""Child runbooks from a runbook running on a worker: `opsconsole run` inside it reaches
the engine through the worker's child relay and NATS, records its parent, and waits.
Real nats-server, real worker process, real engine."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from console.jobs.model import JobStatus, Trigger
from console.store.lock import DataDirLock
from console.workers.nats_link import sealed_headers
from console.workers.protocol import ChildRequest, children_subject
from console.workers.signing import GroupSeal
from tests.child_books import CHILD, PARENT
from tests.workers.harness import GROUP, GROUP_KEY, World, wait_finished, wait_output

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def books(world: World) -> World:
    world.runbook("parent.sh", PARENT)
    world.runbook("child.sh", CHILD)
    return world


def _path_without_venv() -> dict[str, str]:
    """The worker of a real install finds `opsconsole` next to its own interpreter; make
    sure the test does not pass only because the venv is on PATH already."""
    scripts = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p != scripts]
    return {"PATH": os.pathsep.join(path)}


@pytest.mark.parametrize(
    ("target", "child_fails"),
    [("here", False), ("routed", False), ("here", True)],
    ids=["child-in-the-engine", "child-on-a-worker", "child-fails"],
)
async def test_a_runbook_on_a_worker_runs_a_child_and_waits_for_it(
    books: World, target: str, child_fails: bool
) -> None:
    books.worker("w1", env=_path_without_venv())
    async with books.engine() as engine:
        parent = await engine.start_job(
            "parent", f"run-on/{GROUP}", {"target": target, "child_fails": str(child_fails)}
        )
        done = await wait_finished(engine, parent.id)
        (child,) = await engine.jobs(runbook="child")
        lines = [r.text for r in await engine.streams(parent.id, stream="output")]
        child_lines = [r.text for r in await engine.streams(child.id, stream="output")]
    assert (child.trigger, child.trigger_ref) == (Trigger.PARENT, parent.id)
    assert child.hosts == [target]
    assert child.status is (JobStatus.FAILED if child_fails else JobStatus.COMPLETED)
    assert child_lines == [f"child of {child.id}"]
    assert lines[0] == f"parent {parent.id} starts"
    assert f"{target} | child of {child.id}" in lines  # the child's output, in the parent's
    assert child.ended is not None and done.ended is not None and child.ended <= done.ended
    if child_fails:
        assert (done.status, lines[-1]) == (JobStatus.FAILED, "child failed with 1")
    else:
        assert (done.status, lines[-1]) == (JobStatus.COMPLETED, "child completed")


async def test_a_wrong_job_token_on_the_worker_starts_no_child(books: World) -> None:
    books.runbook(
        "forger.sh",
        "#!/bin/sh\nOPS_JOB_TOKEN=guessed opsconsole run child here || echo refused $?\n",
    )
    books.worker("w1")
    async with books.engine() as engine:
        job = await engine.start_job("forger", f"run-on/{GROUP}", {})
        await wait_finished(engine, job.id)
        errors = [r.text for r in await engine.streams(job.id, stream="error")]
        output = [r.text for r in await engine.streams(job.id, stream="output")]
        assert await engine.jobs(runbook="child") == []
    assert output == ["refused 2"]
    assert any("only a runbook running on this worker can reach the engine" in e for e in errors)


async def _ask(world: World, seal: GroupSeal, request: ChildRequest) -> bool:
    """Whether the engine answers this child request, sent straight to NATS."""
    nc = NATS()
    await nc.connect(world.nats.url)
    try:
        subject = children_subject(GROUP)
        body, headers = sealed_headers(seal, subject, uuid.uuid4().hex, request.encode())
        await nc.request(subject, body, timeout=3, headers=headers)
        return True
    except (NatsTimeout, NoRespondersError):
        return False
    finally:
        await nc.close()


async def test_forged_or_stale_child_requests_get_no_answer_and_are_logged(
    books: World, caplog: pytest.LogCaptureFixture
) -> None:
    books.runbook("waits.sh", "#!/bin/sh\necho started\nsleep 30\n")
    books.worker("w1")
    async with books.engine() as engine:
        job = await engine.start_job("waits", f"run-on/{GROUP}", {})
        await wait_output(engine, job.id, ["started"])  # the engine hears child requests now
        token = engine.runner._child_tokens[job.id]  # what a worker got in the order
        start = {"runbook": "child", "pattern": "here"}
        fresh = ChildRequest("POST", "/jobs", job.id, token, time.time(), body=start)
        stale = ChildRequest("POST", "/jobs", job.id, token, time.time() - 3600, body=start)
        other_key = GroupSeal("not-the-key-of-group-g1-at-all")
        assert not await _ask(books, other_key, fresh)
        assert not await _ask(books, GroupSeal(GROUP_KEY), stale)
        assert await engine.jobs(runbook="child") == []
        assert await _ask(books, GroupSeal(GROUP_KEY), fresh)  # the same, sealed right
        assert len(await engine.jobs(runbook="child")) == 1
        await engine.stop_job(job.id)
    refusals = [
        r.getMessage() for r in caplog.records if "refused a child request" in r.getMessage()
    ]
    assert len(refusals) == 2
    assert "bad signature" in refusals[0]
    assert "a replay, or the worker's clock is off" in refusals[1]


def test_a_starting_worker_removes_relay_folders_of_killed_workers(
    world: World, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    stale, held = temp / "opsconsole-worker-stale", temp / "opsconsole-worker-held"
    for folder in (stale, held):
        folder.mkdir(mode=0o700)
        (folder / "engine.lock").write_text("12345\n")
    lock = DataDirLock(held)
    lock.acquire()  # a live worker's folder
    try:
        for folder in (stale, held):
            os.utime(folder, (time.time() - 3600, time.time() - 3600))
        world.worker("w1", env={"TMPDIR": str(temp)})
        mine = [p for p in temp.glob("opsconsole-worker-*") if p not in (stale, held)]
        assert not stale.exists()
        assert held.exists()
        assert len(mine) == 1 and (mine[0] / "control.sock").exists()
    finally:
        lock.release()
