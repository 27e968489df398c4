"""A deterministic data directory for the console tests: real files, real store, real engine.

`tests/tui/data/` holds a fixed inventory and a runbooks folder. `seed_data_dir` writes
a job history into a fresh data directory through `Store.add_jobs` and
`Store.append_streams`: fixed ids, times, statuses, triggers, host runs and stream
records. Every seeded job is finished, so starting the engine over it (which restarts
Queued jobs and fails interrupted ones) changes nothing and the screen is the same on
every run. `console_app` then runs the real engine the way `opsconsole` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from console.assets.vault import TABLE as ASSETS_TABLE
from console.assets.vault import AssetVault
from console.changes.model import (
    Disk,
    Facts,
    FileStatus,
    Package,
    Service,
    Snapshot,
    TrackedFile,
)
from console.changes.store import ChangeStore
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


def settings_for(data_dir: Path, configurations: Path | None = None) -> Settings:
    return Settings(
        inventory=INVENTORY, data_dir=data_dir, runbooks=RUNBOOKS, configurations=configurations
    )


def console_app(settings: Settings, **kwargs: object) -> OpsConsoleApp:
    """The app over the real engine, started inside the app's loop as `opsconsole tui`
    (console.cli.tui_cmd) does."""
    return OpsConsoleApp(client_factory=lambda: engine_client(settings, EngineOptions()), **kwargs)  # type: ignore[arg-type]


def row(table: VirtualTable, key: str) -> tuple[str, ...]:
    """The cells of the row `key`; fails the test when there is no such row."""
    cells = table.row(key)
    assert cells is not None, f"no row {key!r} in {table.id}"
    return cells


# -- inventory data and changes ---------------------------------------------------------

COLLECTED_HOSTS = ("web01", "web02", "web03", "db01", "db02")  # build, win01, stage: never
FIRST_COLLECTION = T0 - 3600  # 11:00 UTC
SECOND_COLLECTION = T0 + 7200  # 14:00 UTC, one minute apart per host
BASE_PACKAGES = (
    ("adduser", "3.134", "all"),
    ("apt", "2.6.1", "amd64"),
    ("bash", "5.2.15-2+b2", "amd64"),
    ("ca-certificates", "20230311", "all"),
    ("coreutils", "9.1-1", "amd64"),
    ("cron", "3.0pl1-162", "amd64"),
    ("curl", "7.88.1-10+deb12u5", "amd64"),
    ("dpkg", "1.21.22", "amd64"),
    ("gzip", "1.12-1", "amd64"),
    ("iproute2", "6.1.0-3", "amd64"),
    ("less", "590-2.1~deb12u2", "amd64"),
    ("libc6", "2.36-9+deb12u4", "amd64"),
    ("libssl3", "3.0.11-1~deb12u2", "amd64"),
    ("logrotate", "3.21.0-1", "amd64"),
    ("openssh-server", "1:9.2p1-2+deb12u2", "amd64"),
    ("openssl", "3.0.11-1~deb12u2", "amd64"),
    ("python3", "3.11.2-1+b1", "amd64"),
    ("rsyslog", "8.2302.0-1", "amd64"),
    ("sudo", "1.9.13p3-1+deb12u1", "amd64"),
    ("systemd", "252.22-1~deb12u1", "amd64"),
    ("tar", "1.34+dfsg-1.2+deb12u1", "amd64"),
    ("telnet", "0.17+2.4-2", "all"),
    ("tzdata", "2024a-0+deb12u1", "all"),
    ("vim-tiny", "2:9.0.1378-2", "amd64"),
    ("zlib1g", "1:1.2.13.dfsg-1", "amd64"),
)
SYNTHETIC_LIBRARIES = 300  # libraries enough that the Software tab scrolls
ROLE = {"web": ("nginx", "htop"), "db": ("postgresql", "pgbouncer")}
SSHD_CONFIG = (
    "# managed by ops\n"
    "Port 22\n"
    "PermitRootLogin yes\n"
    "PasswordAuthentication no\n"
    "X11Forwarding no\n"
    "Subsystem sftp /usr/lib/openssh/sftp-server\n"
)


def _packages(host: str, second: bool) -> tuple[Package, ...]:
    role = host.rstrip("0123456789")
    server, extra = ROLE[role]
    rows = [*BASE_PACKAGES, (server, "1.22.1-9" if role == "web" else "15+248", "amd64")]
    rows += [
        (f"libsynth{n:03d}", f"1.{n % 7}.{n % 5}-1", "amd64")
        for n in range(1, SYNTHETIC_LIBRARIES + 1)
    ]
    if second:
        rows.append((extra, "3.2.2-2" if role == "web" else "1.18.0-1", "amd64"))
    return tuple(Package(name, version, arch, "dpkg") for name, version, arch in sorted(rows))


def _services(host: str, second: bool) -> tuple[Service, ...]:
    server = ROLE[host.rstrip("0123456789")][0]
    stopped = "failed" if host == "web03" else "inactive"
    states = {"cron": "active", "rsyslog": "active", "ssh": "active", server: "active"}
    if second:
        states[server] = stopped
    states["apt-daily"] = "inactive"
    return tuple(
        Service(
            name,
            state,
            "static" if name == "apt-daily" else "enabled",
            "systemd",
            T0 - 3 * 86400 + 9.5 if state == "active" else None,  # started at boot
        )
        for name, state in sorted(states.items())
    )


def _sshd_config(second: bool) -> TrackedFile:
    text = SSHD_CONFIG
    if second:
        text = text.replace("PermitRootLogin yes", "PermitRootLogin no") + "MaxAuthTries 3\n"
    data = text.encode()
    return TrackedFile(
        "/etc/ssh/sshd_config",
        FileStatus.OK,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        mode="0644",
        owner="root",
        group="root",
        mtime=SECOND_COLLECTION - 600 if second else T0 - 86400,
        content=text,
    )


def _facts(host: str, index: int, second: bool) -> Facts:
    return Facts(
        hostname=host,
        fqdn=f"{host}.example.test",
        os_name="Debian GNU/Linux",
        os_version="12",
        os_family="debian",
        kernel="6.1.0-21-amd64" if second else "6.1.0-18-amd64",
        arch="x86_64",
        cpus=4 if host.startswith("web") else 16,
        memory_mb=7936 if host.startswith("web") else 64302,
        disks=(
            Disk("/", "/dev/vda1", "ext4", 40_960, 12_288 + index * 512),
            Disk("/var", "/dev/vdb1", "xfs", 204_800, 51_200),
        ),
        ipv4=(f"10.0.0.{11 + index}",),
        ipv6=(f"fd00::{11 + index:x}",),
        uptime_s=3 * 86400 + 4 * 3600 + index * 60,
        boot_time=T0 - 3 * 86400,
        machine_id=f"{index:02d}" + "5f3c1e0a9b7d4c2e8f6a1b3c5d7e9f",
        virtualization="kvm",
    )


def host_snapshot(host: str, second: bool) -> Snapshot:
    """`host`'s first or second collection: the second adds a package, stops (web03:
    fails) its server's service, edits sshd_config and boots a newer kernel."""
    index = COLLECTED_HOSTS.index(host)
    collected = SECOND_COLLECTION + index * 60 if second else FIRST_COLLECTION + index * 60
    return Snapshot(
        host=host,
        collected=collected,
        facts=_facts(host, index, second),
        software=_packages(host, second),
        services=_services(host, second),
        files=(_sshd_config(second),),
    )


def seed_changes(data_dir: Path) -> None:
    """Two collections per host of COLLECTED_HOSTS through the real ChangeStore, each
    stamped with its collection time: four changes per host, the same on every run."""
    store = ChangeStore(data_dir)
    for second in (False, True):
        for host in COLLECTED_HOSTS:
            snapshot = host_snapshot(host, second)
            store.record(snapshot, now=snapshot.collected)
