"""A routed host that logs in with a credential asset: the engine sends the credential
in the (encrypted) order and the worker logs in with it. Real sshd host with a password
user, real nats-server and worker process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from console.jobs.model import JobStatus
from tests.fleet import LOGIN_USER, Fleet, start_fleet
from tests.nats_server import NatsServer
from tests.workers.harness import GROUP, World, wait_finished

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def users_fleet(tmp_path: Path) -> Iterator[Fleet]:
    if os.geteuid() != 0:
        pytest.fail("a login user needs an isolated fleet: run the tests as root (CI does)")
    with start_fleet(1, tmp_path / "fleet", login_user=True) as started:
        yield started


def _routed_inventory(world: World, fleet: Fleet) -> None:
    (target,) = fleet.hosts

    def dmz_host(credential: str) -> dict[str, object]:
        return {
            "ansible_host": target.address,
            "ansible_port": target.port,
            "console_credential": credential,
        }

    document = {
        "all": {
            "children": {
                "dmz": {
                    "vars": {"console_worker_group": GROUP},
                    "hosts": {"dmz1": dmz_host("ops"), "dmz2": dmz_host("missing")},
                }
            }
        }
    }
    world.settings.inventory.write_text(yaml.safe_dump(document))


async def test_a_worker_logs_in_with_the_credential_the_engine_sent(
    world: World, users_fleet: Fleet, nats_server: NatsServer
) -> None:
    _routed_inventory(world, users_fleet)
    password = str(users_fleet.login_password)
    # The worker's known_hosts is the fleet's (its HOME); it has no vault of its own.
    worker = world.worker("w1", env={"HOME": str(users_fleet.home)})
    async with world.engine() as engine:
        await engine.assets.set_credential("ops", LOGIN_USER, password=password)
        job = await engine.start_command("dmz", "id -un")
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    ok, missing = done.host_runs["dmz1"], done.host_runs["dmz2"]
    assert ok.status is JobStatus.COMPLETED, ok.error
    assert ok.worker == "w1"
    assert [r.text for r in records if r.host == "dmz1"] == [LOGIN_USER]
    assert missing.status is JobStatus.FAILED
    assert missing.error_kind == "config_error"
    assert "credential 'missing'" in (missing.error or "")
    assert password not in worker.text()
