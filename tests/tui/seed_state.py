"""Desired state for the Drift pane's tests: the configurations in
`tests/tui/data/configurations` (web-baseline on web01-03, db-baseline on db01-02) and a
report per host written through the real `StateStore`, at fixed times, so that the pane
shows each node status once:

    web01  web-baseline  Compliant
    web02  web-baseline  NotCompliant  (2 drifted: /etc/motd's content and mode, nginx)
    web03  web-baseline  Unresponsive
    db01   db-baseline   Failed        (postgresql could not be checked)
    db02   db-baseline   Pending       (never checked)

The checks that made them are in the job history too (finished `(state check)` jobs),
so a row's job opens. Every host's address is a loopback one with no SSH server: a
check or apply started by a test ends Unresponsive, and touches nothing.
"""

from __future__ import annotations

from pathlib import Path

from console.jobs.model import Job, JobStatus
from console.state.compare import attribute_diff, content_diff
from console.state.model import NodeStatus, Report, ResourceResult, ResourceStatus
from console.state.store import StateStore
from tests.tui.seed import DATA, finished_job, seed_data_dir

CONFIGURATIONS = DATA / "configurations"
WEB = ("web01", "web02", "web03")
MOTD_ON_HOST = b"Welcome to web02\nUnauthorised access prohibited\n"
MOTD_DECLARED = b"Managed by opsconsole\n"


def state_jobs() -> tuple[Job, Job]:
    """The checks behind the reports: web-baseline on the web hosts (web03 could not be
    reached), db-baseline on db01 (its check failed)."""
    web = finished_job(
        6,
        "(state check)",
        "web",
        WEB,
        JobStatus.FAILED,
        failed=["web03"],
        parameters={"configuration": "web-baseline"},
    )
    db = finished_job(
        7,
        "(state check)",
        "db01",
        ["db01"],
        JobStatus.FAILED,
        failed=["db01"],
        parameters={"configuration": "db-baseline"},
    )
    return web, db


def _ok(resource: str, type_: str, expected: object) -> ResourceResult:
    return ResourceResult(resource, type_, ResourceStatus.COMPLIANT, expected, expected)


def _web_resources(drifted: bool) -> tuple[ResourceResult, ...]:
    declared = {"state": "present", "mode": "0644", "content": "22 bytes, sha256 3f1a9c0e7b42"}
    running = {"running": True}
    if not drifted:
        motd = _ok("file:/etc/motd", "file", declared)
        nginx = _ok("service:nginx", "service", running)
    else:
        on_host = {**declared, "mode": "0600", "content": "47 bytes, sha256 9b0d2c44e1f8"}
        mode = ["-mode: 0600", "+mode: 0644"]
        motd = ResourceResult(
            "file:/etc/motd",
            "file",
            ResourceStatus.DRIFTED,
            declared,
            on_host,
            content_diff("/etc/motd", MOTD_ON_HOST, MOTD_DECLARED, ["@@ attributes @@", *mode]),
        )
        stopped = {"running": False}
        nginx = ResourceResult(
            "service:nginx",
            "service",
            ResourceStatus.DRIFTED,
            running,
            stopped,
            attribute_diff("nginx", stopped, running),
        )
    htop = _ok("package:htop", "package", {"state": "present"})
    return motd, htop, nginx


def reports(web: Job, db: Job) -> list[Report]:
    at_web = (web.started or 0) + 5
    at_db = (db.started or 0) + 5
    failed_package = ResourceResult(
        "package:postgresql",
        "package",
        ResourceStatus.FAILED,
        {"state": "present"},
        message="dpkg-query: status database area is locked by another process",
    )
    return [
        Report("web01", "web-baseline", "check", NodeStatus.COMPLIANT, at_web,
               _web_resources(False), web.id),
        Report("web02", "web-baseline", "check", NodeStatus.NOT_COMPLIANT, at_web + 1,
               _web_resources(True), web.id),
        Report("web03", "web-baseline", "check", NodeStatus.UNRESPONSIVE, at_web + 2,
               job_id=web.id, error="ssh: connect to 127.0.10.13 port 22: Connection refused"),
        Report("db01", "db-baseline", "check", NodeStatus.FAILED, at_db,
               (failed_package, _ok("service:postgresql", "service", {"running": True})),
               db.id),
    ]  # fmt: skip


def seed_state(data_dir: Path) -> tuple[Job, Job]:
    """The state jobs into the job history and their reports into the state store."""
    web, db = state_jobs()
    seed_data_dir(data_dir, [web, db], with_streams=False)
    store = StateStore(data_dir)
    for report in reports(web, db):
        store.record(report)
    return web, db
