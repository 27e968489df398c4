"""A deterministic data directory for the console tests: real files, real store, real engine.

`tests/tui/data/` holds a fixed inventory and a runbooks folder. `seed_data_dir` writes
a job history into a fresh data directory through `Store.add_jobs` and
`Store.append_streams`: fixed ids, times, statuses, triggers, host runs and stream
records. Every seeded job is finished, so starting the engine over it (which restarts
Queued jobs and fails interrupted ones) changes nothing and the screen is the same on
every run. `console_app` then runs the real engine the way `opsconsole` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.assets.vault import TABLE as ASSETS_TABLE
from console.assets.vault import AssetVault
from console.engine.connect import engine_client
from console.engine.options import EngineOptions
from console.jobs.model import HostRun, Job, JobStatus, StreamRecord, Trigger
from console.settings import Settings
from console.store import Store
from screens.app import OpsConsoleApp
from screens.vtable import VirtualTable

DATA = Path(__file__).resolve().parent / "data"
INVENTORY = DATA / "inventory.yaml"
RUNBOOKS = DATA / "runbooks"
T0 = 1_714_564_800.0  # 2024-05-01 12:00:00 UTC
HOST_COUNT = 8


def job_id(when: float, n: int) -> str:
    """The format of `console.jobs.model.new_job_id`: 12 hex digits of ms, 8 of 'random'."""
    return f"{int(when * 1000):012x}{n:08x}"


def finished_job(
    n: int,
    runbook: str,
    pattern: str,
    hosts: Sequence[str],
    status: JobStatus,
    failed: Sequence[str] = (),
    trigger: Trigger = Trigger.MANUAL,
    trigger_ref: str | None = None,
    parameters: dict[str, object] | None = None,
    at: float | None = None,
) -> Job:
    """Job number `n`, started at T0 + n * 10 min, finished 12 + n seconds later."""
    start = T0 + n * 600 if at is None else at
    job = Job(
        id=job_id(start, n),
        runbook=runbook,
        pattern=pattern,
        hosts=list(hosts),
        parameters=dict(parameters or {}),
        trigger=trigger,
        trigger_ref=trigger_ref,
        # A fixed operator name: the snapshots must not depend on who runs the tests.
        started_by=f"{trigger.value}:{trigger_ref}" if trigger_ref else "alice",
        status=status,
        created=start,
        started=start,
        ended=start + 12 + n,
    )
    if status is JobStatus.STOPPED:
        job.reason = "stopped by the operator"
    for name in hosts:
        bad = name in failed or status is JobStatus.STOPPED
        run_status = (
            status
            if status is JobStatus.STOPPED
            else (JobStatus.FAILED if bad else JobStatus.COMPLETED)
        )
        run_failed = bad and status is not JobStatus.STOPPED
        job.host_runs[name] = HostRun(
            name,
            run_status,
            exit_code=None if status is JobStatus.STOPPED else int(bad),
            error_kind="exited_non_zero" if run_failed else None,
            error="status 1" if run_failed else None,
            started=start,
            ended=start + 5,
        )
    return job


def history() -> list[Job]:
    web = ["web01", "web02", "web03"]
    return [
        finished_job(
            1,
            "restart-service",
            "stage-web01",
            ["stage-web01"],
            JobStatus.STOPPED,
            parameters={"service": "nginx", "delay": 0, "mode": "restart"},
        ),
        finished_job(
            2,
            "disk-usage",
            "all",
            ["web01", "db01", "build"],
            JobStatus.COMPLETED,
            trigger=Trigger.WEBHOOK,
            trigger_ref="disk-alert",
            parameters={"path": "/"},
        ),
        finished_job(
            3,
            "(command)",
            "db",
            ["db01", "db02"],
            JobStatus.COMPLETED,
            parameters={"command": "uptime"},
        ),
        finished_job(
            4,
            "restart-service",
            "web",
            web,
            JobStatus.FAILED,
            failed=["web03"],
            parameters={"service": "nginx", "delay": 0, "mode": "restart"},
        ),
        finished_job(
            5,
            "patch-report",
            "prod",
            ["web01", "db01"],
            JobStatus.COMPLETED,
            trigger=Trigger.SCHEDULE,
            trigger_ref="nightly",
            parameters={"security_only": False, "classes": ["Critical"]},
        ),
    ]


def streams(job: Job) -> list[StreamRecord]:
    """Every stream once per host, so the output view shows each colour."""
    records = []
    for i, host in enumerate(job.hosts):
        t = (job.started or T0) + i
        failed = job.host_runs[host].status is JobStatus.FAILED
        records += [
            StreamRecord(t, host, "verbose", f"connecting to {host}"),
            StreamRecord(t + 0.1, host, "output", "Restarting nginx.service"),
            StreamRecord(t + 0.2, host, "warning", "config test printed 1 warning"),
            StreamRecord(t + 0.3, host, "progress", "50% done"),
            StreamRecord(t + 0.4, host, "debug", "pid 4242"),
            StreamRecord(
                t + 0.5,
                host,
                "error" if failed else "output",
                "Job for nginx failed." if failed else "active (running)",
            ),
        ]
    return records


def seed_data_dir(
    data_dir: Path, jobs: Sequence[Job] | None = None, with_streams: bool = True
) -> list[Job]:
    """Write `jobs` (default: `history()`) and their streams; returns them newest first."""
    jobs = list(history() if jobs is None else jobs)
    store = Store(data_dir)
    try:
        store.add_jobs(jobs)
        if with_streams:
            for job in jobs:
                store.append_streams(job.id, streams(job))
                store.sync_streams(job.id)
    finally:
        store.close()
    return sorted(jobs, key=lambda j: j.id, reverse=True)


SEEDED_SECRETS = ("s3cr3t-deploy-pw", "tok-0123456789abcdef", "grafana-api-key-42")


async def seed_assets(data_dir: Path) -> None:
    """One asset of three kinds (their secrets in SEEDED_SECRETS), written through the
    real vault, then dated T0 so that the screen reads the same on every run."""
    store = Store(data_dir)
    try:
        vault = AssetVault(store, data_dir, environ={})
        await _set_assets(vault)
        table = store.table(ASSETS_TABLE)
        for key, doc in table.all().items():
            table.upsert(key, {**doc, "created": T0, "updated": T0 + 3600})
    finally:
        store.close()


async def _set_assets(vault: AssetVault) -> None:
    deploy, token, grafana = SEEDED_SECRETS
    await vault.set_credential("deploy", "deployer", password=deploy, description="CI deploys")
    await vault.set_variable("api_url", "https://api.example.test")
    await vault.set_variable("api_token", token, encrypted=True)
    await vault.set_connection(
        "grafana", {"endpoint": "https://grafana.example.test", "token": grafana}, secret=["token"]
    )


def settings_for(data_dir: Path) -> Settings:
    return Settings(inventory=INVENTORY, data_dir=data_dir, runbooks=RUNBOOKS)


def console_app(settings: Settings, **kwargs: object) -> OpsConsoleApp:
    """The app over the real engine, started inside the app's loop as `opsconsole tui`
    (console.cli.tui_cmd) does."""
    return OpsConsoleApp(client_factory=lambda: engine_client(settings, EngineOptions()), **kwargs)  # type: ignore[arg-type]


def row(table: VirtualTable, key: str) -> tuple[str, ...]:
    """The cells of the row `key`; fails the test when there is no such row."""
    cells = table.row(key)
    assert cells is not None, f"no row {key!r} in {table.id}"
    return cells
