"""Child runbooks: a runbook on the console machine runs `opsconsole run` and waits.

The engine gives local host runs OPS_JOB_ID and the OPSCONSOLE_* settings, so the
child command attaches to the running engine and records its parent.
"""

from __future__ import annotations

import json
import os

import pytest

from console.jobs.model import JobStatus, Trigger
from tests.child_books import CHILD, PARENT
from tests.jobs.helpers import OPSCONSOLE, JobEnv, wait_finished

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def books(job_env: JobEnv, monkeypatch: pytest.MonkeyPatch) -> JobEnv:
    job_env.runbook("parent.sh", PARENT)
    job_env.runbook("child.sh", CHILD)
    # The engine of a real install finds `opsconsole` next to its own interpreter;
    # make sure this test does not pass only because the venv is on PATH already.
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p != str(OPSCONSOLE.parent)]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    return job_env


@pytest.mark.parametrize("child_fails", [False, True])
async def test_in_process_engine_runs_a_child_and_the_parent_waits(
    books: JobEnv, child_fails: bool
) -> None:
    async with books.engine() as engine:  # defaults: max_runs_per_host=1
        parent = await engine.start_job(
            "parent", "localhost", {"child_fails": str(child_fails).lower()}
        )
        done = await wait_finished(engine, parent.id, timeout=60)
        children = await engine.jobs(runbook="child")
        assert len(children) == 1
        child = children[0]
        assert (child.trigger, child.trigger_ref) == (Trigger.PARENT, parent.id)
        assert child.status is (JobStatus.FAILED if child_fails else JobStatus.COMPLETED)
        assert child.ended is not None and done.ended is not None
        assert child.ended <= done.ended
        lines = [r.text for r in await engine.streams(parent.id, stream="output")]
        child_lines = [r.text for r in await engine.streams(child.id, stream="output")]
    assert lines[0] == f"parent {parent.id} starts"
    assert child_lines == [f"child of {child.id}"]
    assert "localhost | child of " + child.id in lines  # the child's live output
    if child_fails:
        assert done.status is JobStatus.FAILED
        assert lines[-1] == "child failed with 1"
    else:
        assert done.status is JobStatus.COMPLETED
        assert lines[-1] == "child completed"


async def test_child_starts_even_when_the_job_limit_is_full(books: JobEnv) -> None:
    async with books.engine(max_jobs=1) as engine:
        parent = await engine.start_job("parent", "localhost", {})
        done = await wait_finished(engine, parent.id, timeout=60)
    assert done.status is JobStatus.COMPLETED


async def test_cli_parent_through_serve_records_the_parent_id(books: JobEnv) -> None:
    books.serve()
    done = await books.acli("run", "parent", "localhost", "--json")
    assert done.returncode == 0, done.stderr
    parent = json.loads(done.stdout)
    listed = await books.acli("jobs", "list", "--runbook", "child", "--json")
    (child,) = json.loads(listed.stdout)
    assert (child["trigger"], child["status"]) == ("parent", "Completed")
    shown = json.loads((await books.acli("jobs", "show", child["id"], "--json")).stdout)
    assert shown["trigger_ref"] == parent["id"]
