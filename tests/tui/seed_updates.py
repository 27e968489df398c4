"""Update assessments and a deployment run for the Updates pane's tests, written
through the real `UpdateStore` at fixed times:

    web01        2 Other                         compliant
    web02        1 Critical, 1 Security, 2 Other  reboot pending  NOT compliant
    web03        2 Security                      NOT compliant
    db01         assessment failed (dpkg lock)   unknown
    db02         nothing pending                 compliant
    build, stage-web01, win01: never assessed (the engine says so)

and one finished `(updates deploy)` run "web-security" on web01 and web02 with a
result per host and package. Every host but `build` has a loopback address with no
SSH server: a test deploys to or assesses those only, and nothing is touched.
"""

from __future__ import annotations

from pathlib import Path

from console.jobs.model import Job, JobStatus
from console.updates.codec import deployment_to_dict
from console.updates.model import (
    Assessment,
    Classification,
    Deployment,
    HostDeployment,
    PackageResult,
    PackageStatus,
    PendingUpdate,
    Selection,
)
from console.updates.store import UpdateStore
from tests.tui.seed import T0, finished_job, history, seed_data_dir

SECURITY_SOURCE = "Debian-Security:12/bookworm-security"
MAIN_SOURCE = "Debian:12/bookworm"
C, S, OTHER = Classification.CRITICAL, Classification.SECURITY, Classification.OTHER


def _update(name: str, installed: str, available: str, kind: Classification) -> PendingUpdate:
    source = MAIN_SOURCE if kind is OTHER else SECURITY_SOURCE
    return PendingUpdate(name, installed, available, kind, source, "amd64")


def assessments() -> list[Assessment]:
    at = T0 + 3600  # 13:00 UTC
    return [
        Assessment("web01", at, "apt", (
            _update("curl", "7.88.1-10", "7.88.1-10+deb12u5", OTHER),
            _update("tzdata", "2024a-0", "2024a-0+deb12u1", OTHER),
        )),
        Assessment("web02", at + 60, "apt", (
            _update("openssl", "3.0.11-1", "3.0.13-1~deb12u1", C),
            _update("libssl3", "3.0.11-1", "3.0.13-1~deb12u1", S),
            _update("nginx", "1.22.1-9", "1.22.1-9+deb12u1", OTHER),
            _update("linux-image-amd64", "", "6.1.90-1", OTHER),
        ), reboot_pending=True, reboot_packages=("linux-image-6.1.0-21-amd64",)),
        Assessment("web03", at + 120, "apt", (
            _update("libssl3", "3.0.11-1", "3.0.13-1~deb12u1", S),
            _update("openssh-server", "1:9.2p1-2", "1:9.2p1-2+deb12u3", S),
        )),
        Assessment("db01", at + 180,
                   error="dpkg lock held by another process for 120 s (pid 4242, apt-get)"),
        Assessment("db02", at + 240, "apt"),
    ]  # fmt: skip


DEPLOYMENT = Deployment("web-security", "web01,web02", Selection((C, S)))


def deploy_job() -> Job:
    return finished_job(
        8,
        "(updates deploy)",
        DEPLOYMENT.pattern,
        ["web01", "web02"],
        JobStatus.FAILED,
        failed=["web02"],
        parameters={"deployment": deployment_to_dict(DEPLOYMENT)},
    )


def results() -> list[HostDeployment]:
    ok = PackageStatus.SUCCEEDED
    return [
        HostDeployment("web01", "Succeeded", (
            PackageResult("libssl3", "3.0.9-1", "3.0.11-1", S, ok),
        ), reboot_note="not required"),
        HostDeployment("web02", "Failed", (
            PackageResult("openssl", "3.0.9-1", "3.0.11-1", C, ok),
            PackageResult("libssl3", "3.0.9-1", "3.0.11-1", S, PackageStatus.FAILED,
                          "dpkg: error processing package libssl3"),
            PackageResult("nginx", "1.22.1-9", "1.22.1-9+deb12u1", OTHER,
                          PackageStatus.NOT_SELECTED),
        ), rebooted=True, reboot_note="back after 42 s"),
    ]  # fmt: skip


def seed_updates(data_dir: Path) -> Job:
    """The job history of `seeded` plus the deployment run, and the assessments."""
    job = deploy_job()
    seed_data_dir(data_dir, [*history(), job])
    store = UpdateStore(data_dir)
    for assessment in assessments():
        store.record(assessment)
    for result in results():
        store.add_result(job.id, result)
    return job
