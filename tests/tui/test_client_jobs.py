"""The job queries the console relies on, on the real engine and over the real control
socket: several statuses at once (the quit dialog's count) and jobs of one host found
deep in a long history (host detail)."""

from __future__ import annotations

from pathlib import Path

from console.engine.client import EngineClient
from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.engine.remote import RemoteClient
from console.jobs.model import JobStatus
from console.settings import Settings
from console.store.lock import socket_path
from tests.tui.seed import T0, finished_job, seed_data_dir, settings_for


def long_history(data_dir: Path) -> Settings:
    """2,500 jobs on web01; win01 ran only the oldest one; one of each finished state."""
    jobs = [
        finished_job(
            n,
            "disk-usage",
            "web01",
            ["web01"],
            (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)[n % 3],
            at=T0 + n * 60,
        )
        for n in range(1, 2500)
    ]
    jobs.append(finished_job(0, "disk-usage", "win01", ["win01"], JobStatus.FAILED, at=T0))
    seed_data_dir(data_dir, jobs, with_streams=False)
    return settings_for(data_dir)


async def check_queries(client: EngineClient) -> None:
    either = await client.jobs(status=[JobStatus.FAILED, JobStatus.STOPPED], limit=10)
    assert len(either) == 10
    assert {j.status for j in either} == {JobStatus.FAILED, JobStatus.STOPPED}
    one = await client.jobs(status=JobStatus.COMPLETED, limit=5)
    assert len(one) == 5 and all(j.status is JobStatus.COMPLETED for j in one)
    assert await client.jobs(status=[JobStatus.QUEUED, JobStatus.RUNNING]) == []
    win = await client.jobs(host="win01", limit=20)
    assert [(j.hosts, j.status) for j in win] == [(["win01"], JobStatus.FAILED)]
    web = await client.jobs(host="web01", status=[JobStatus.STOPPED], limit=1500)
    assert len(web) == 833 and all(j.status is JobStatus.STOPPED for j in web)
    assert web == sorted(web, key=lambda j: j.id, reverse=True)
    assert await client.jobs(host="db01") == []


async def test_status_collection_and_host_filter_in_process(tmp_path: Path) -> None:
    async with Engine(long_history(tmp_path / "data"), EngineOptions()) as engine:
        await check_queries(engine)


async def test_status_collection_and_host_filter_over_the_socket(tmp_path: Path) -> None:
    settings = long_history(tmp_path / "data")
    async with Engine(settings, EngineOptions()):
        remote = await RemoteClient(socket_path(settings.data_dir)).open()
        try:
            assert remote.is_attached
            await check_queries(remote)
        finally:
            await remote.close()
