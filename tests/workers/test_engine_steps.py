"""The engine's own steps on a host routed to a worker group: the probe, inventory
collection and an update assessment run in the engine, and each command they send
runs on a worker (console.workers.worker_transport). Real nats-server and worker."""

from __future__ import annotations

import pytest

from console.jobs.model import JobStatus
from tests.workers.harness import World, wait_finished

pytestmark = pytest.mark.timeout(240)


def _commands_run_by(worker_log: str) -> int:
    return worker_log.count("running step-")


async def test_probe_and_collection_of_a_routed_host_run_through_a_worker(world: World) -> None:
    worker = world.worker("w1")
    async with world.engine() as engine:
        (probe,) = await engine.probe(["routed"])
        assert probe.reachable, probe.error
        assert probe.os.startswith("Linux")
        probed = _commands_run_by(worker.text())
        assert probed >= 1

        (collected,) = await engine.changes.collect("routed")
        assert collected.ok, collected.error
        facts = await engine.changes.facts("routed")
        assert facts["os"]  # what the collector printed on the worker's side
        assert await engine.changes.software("routed")  # the packages of the worker's host
    assert _commands_run_by(worker.text()) > probed


async def test_an_update_assessment_of_a_routed_host_runs_through_a_worker(
    world: World,
) -> None:
    worker = world.worker("w1")
    async with world.engine() as engine:
        job = await engine.updates.assess("routed", refresh=False)
        done = await wait_finished(engine, job.id)
        (assessment,) = await engine.updates.assessments("routed")
    assert done.status is JobStatus.COMPLETED, done.host_runs["routed"].error
    assert assessment.error == ""
    assert assessment.manager == "apt"  # found on the worker's host (Debian here)
    assert "running step-" in worker.text()


async def test_a_routed_host_without_an_online_worker_fails_its_step_with_the_reason(
    world: World,
) -> None:
    async with world.engine(worker_wait=1.0) as engine:
        (probe,) = await engine.probe(["routed"])
        (collected,) = await engine.changes.collect("routed")
    assert not probe.reachable
    assert "no worker of group g1 was online" in probe.error
    assert not collected.ok
    assert collected.error_kind == "no_online_worker"


async def test_a_routed_host_without_nats_names_the_setting(world: World) -> None:
    async with world.engine(nats=None) as engine:
        (probe,) = await engine.probe(["routed"])
        (here,) = await engine.probe(["here"])
    assert here.reachable
    assert not probe.reachable
    assert "--nats" in probe.error and "OPSCONSOLE_NATS" in probe.error
