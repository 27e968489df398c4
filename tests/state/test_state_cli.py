"""Desired state as a user runs it: real CLI processes (`opsconsole state ...`) on a
real isolated sshd fleet of five hosts, a configuration covering every resource type
in a configurations folder, reports in the real store; then the engine's own schedule
(ApplyAndAutoCorrect) correcting drift on the same fleet."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.engine.state_schedule import StateSchedule
from console.jobs.model import Job, JobStatus, Trigger
from console.settings import Settings
from tests.fleet import Fleet, start_fleet
from tests.state.conftest import NEEDS_ROOT, build_deb, install_demo_service, publish
from tests.transports.helpers import pool_for

OPSCONSOLE = Path(sys.executable).with_name("opsconsole")
pytestmark = NEEDS_ROOT

BASELINE = """description: Baseline for the fleet
targets: fleet
mode: {mode}
frequency: 15m
resources:
  - file: /etc/motd-state
    content: "Managed by opsconsole\\n"
    mode: "0644"
    owner: root
    group: root
  - file: /etc/legacy-state.conf
    state: absent
  - directory: /srv/state-app
    mode: "0755"
  - package: state-tool
    state: present
  - service: state-demo
    running: true
    enabled: true
  - lineinfile: /etc/state-sshd.conf
    line: "PermitRootLogin prohibit-password"
    match: "^#?PermitRootLogin"
  - group: deploy
  - user: deploy
    state: present
    shell: /bin/bash
    groups: [deploy]
  - command: touch /srv/state-app/ready
    check: test -e /srv/state-app/ready
    requires: directory:/srv/state-app
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(5, tmp_path_factory.mktemp("state-cli")) as started:
        deb = build_deb(tmp_path_factory.mktemp("debs"), "state-tool", "1.0")
        for host in started.hosts:
            publish(host, deb)
            install_demo_service(host, "state-demo", running=False, enabled=False)
            host.run(
                "printf '#PermitRootLogin yes\\nPort 22\\n' > /etc/state-sshd.conf && "
                "echo old > /etc/legacy-state.conf",
                check=True,
            )
        yield started


@pytest.fixture(scope="module")
def root(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("state-env")
    (root / "runbooks").mkdir()
    (root / "configurations").mkdir()
    (root / "configurations" / "baseline.yaml").write_text(BASELINE.format(mode="ApplyAndMonitor"))
    fleet.inventory(root / "inventory.yaml")
    return root


@pytest.fixture(scope="module")
def env(fleet: Fleet, root: Path) -> dict[str, str]:
    return {
        **fleet.ssh_env(),
        "OPSCONSOLE_INVENTORY": str(root / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(root / "data"),
        "OPSCONSOLE_RUNBOOKS": str(root / "runbooks"),
        "OPSCONSOLE_CONFIGURATIONS": str(root / "configurations"),
    }


def opsconsole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPSCONSOLE), *args], env=env, text=True, capture_output=True, timeout=600
    )


def reports(env: dict[str, str], *args: str) -> tuple[int, dict[str, dict]]:
    done = opsconsole(env, "state", *args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, {r["host"]: r for r in json.loads(done.stdout)}


def statuses(env: dict[str, str]) -> dict[str, str]:
    done = opsconsole(env, "state", "status", "--json")
    assert done.returncode == 0, done.stderr
    return {r["host"]: r["status"] for r in json.loads(done.stdout)}


def drifted(report: dict) -> dict[str, dict]:
    return {r["resource"]: r for r in report["resources"] if r["status"] == "drifted"}


def fingerprint(fleet: Fleet) -> list[str]:
    """What a check must never change on any host."""
    command = (
        "for f in /etc/motd-state /etc/legacy-state.conf /etc/state-sshd.conf /etc/passwd "
        "/etc/group; do [ -e $f ] && sha256sum $f || echo no $f; done; dpkg -l | md5sum; "
        "ls -ld /srv/state-app 2>&1; ls /srv/state-app /run /etc/rc2.d 2>&1"
    )
    return [h.run(command).stdout for h in fleet.hosts]


def test_a_baseline_from_check_to_apply_to_drift_on_five_hosts(
    fleet: Fleet, env: dict[str, str]
) -> None:
    valid = opsconsole(env, "state", "validate")
    assert valid.returncode == 0, valid.stderr
    assert "baseline: ok (9 resources, ApplyAndMonitor on fleet every 15m)" in valid.stdout
    assert set(statuses(env).values()) == {"Pending"}

    before = fingerprint(fleet)
    code, found = reports(env, "check")
    assert fingerprint(fleet) == before  # a check changes nothing on any host
    assert code == 1 and set(found) == {h.name for h in fleet.hosts}
    assert {r["status"] for r in found.values()} == {"NotCompliant"}
    assert len(drifted(found[fleet.hosts[0].name])) == 9

    refused = opsconsole(env, "state", "apply", "baseline")  # not a terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert fingerprint(fleet) == before
    code, applied = reports(env, "apply", "baseline", "--yes")
    assert code == 0, [
        (
            h,
            r["status"],
            r["error"],
            [
                (x["resource"], x["status"], x["message"])
                for x in r["resources"]
                if x["status"] not in ("changed", "compliant")
            ],
        )
        for h, r in applied.items()
    ]
    assert {r["status"] for r in applied.values()} == {"Compliant"}
    assert set(statuses(env).values()) == {"Compliant"}

    edited, removed, stopped = fleet.hosts[0], fleet.hosts[1], fleet.hosts[2]
    edited.run("echo 'hand edit' >> /etc/motd-state", check=True)
    removed.run("dpkg -r state-tool", check=True)
    stopped.run("/etc/init.d/state-demo stop", check=True)
    code, found = reports(env, "check")
    assert code == 1
    assert {h: r["status"] for h, r in found.items()} == {
        h.name: "NotCompliant" if h in (edited, removed, stopped) else "Compliant"
        for h in fleet.hosts
    }
    (motd,) = drifted(found[edited.name]).values()
    assert motd["resource"] == "file:/etc/motd-state"
    assert "-hand edit" in motd["diff"].splitlines()
    (package,) = drifted(found[removed.name]).values()
    assert package["resource"] == "package:state-tool"
    (service,) = drifted(found[stopped.name]).values()
    assert service["resource"] == "service:state-demo"

    shown = opsconsole(env, "state", "show", edited.name)
    assert shown.returncode == 0 and "-hand edit" in shown.stdout
    assert "NotCompliant" in opsconsole(env, "state", "status").stdout


def test_an_unreachable_host_is_unresponsive_and_the_others_are_checked(
    fleet: Fleet, env: dict[str, str]
) -> None:
    down = fleet.hosts[4]
    fleet.stop_host(down.name)
    try:
        code, found = reports(env, "check", "--pattern", f"{down.name},{fleet.hosts[3].name}")
        rows = statuses(env)
    finally:
        fleet.start_host(down.name)
    assert code == 1
    assert found[down.name]["status"] == "Unresponsive"
    assert found[down.name]["error"].startswith("unreachable: ")
    assert found[down.name]["resources"] == []  # nothing was checked, nothing invented
    assert rows[down.name] == "Unresponsive"
    assert rows[fleet.hosts[3].name] == "Compliant"


def test_bad_input_is_refused_with_what_to_fix(env: dict[str, str], root: Path) -> None:
    broken = root / "configurations" / "broken.yaml"
    broken.write_text("targets: fleet\nresources:\n  - package: htop\n    stat: present\n")
    try:
        done = opsconsole(env, "state", "validate")
        assert done.returncode == 2
        assert f"{broken}:4:" in done.stderr and "unknown key 'stat'" in done.stderr
        check = opsconsole(env, "state", "check", "broken")
        assert check.returncode == 2 and "cannot be used" in check.stderr
    finally:
        broken.unlink()
    unknown = opsconsole(env, "state", "check", "nope")
    assert unknown.returncode == 2 and "no configuration 'nope'" in unknown.stderr


async def test_autocorrect_corrects_drift_at_its_next_run(
    fleet: Fleet, env: dict[str, str], root: Path
) -> None:
    (root / "configurations" / "baseline.yaml").write_text(
        BASELINE.format(mode="ApplyAndAutoCorrect")
    )
    settings = Settings(
        inventory=root / "inventory.yaml",
        data_dir=root / "data",
        runbooks=root / "runbooks",
        configurations=root / "configurations",
    )
    drifting = fleet.hosts[3]
    drifting.run("rm -rf /srv/state-app && echo 'hand edit' >> /etc/motd-state", check=True)
    async with Engine(settings, EngineOptions(), pool=pool_for(fleet)) as engine:
        schedule = StateSchedule(lambda: engine.state, lambda ref: False)
        await schedule.run_due(now=time.time() + 3600)  # every host is due
        jobs = await engine.jobs(limit=5)
        (job,) = [j for j in jobs if j.trigger is Trigger.SCHEDULE]
        assert (job.runbook, job.trigger_ref) == ("(state apply)", "state:baseline")
        assert (await finished(engine, job.id)).status is JobStatus.COMPLETED
        report = await engine.state.report(drifting.name, "baseline")
        # The configuration was edited (its mode): these changes are intentional.
        assert report is not None and report.kind == "apply" and report.intentional
        changed = {r.resource for r in report.resources if r.status == "changed"}
        assert changed == {
            "file:/etc/motd-state",
            "directory:/srv/state-app",
            "command:touch /srv/state-app/ready",
        }
        assert drifting.run("cat /etc/motd-state", check=True).stdout == "Managed by opsconsole\n"

        drifting.run("echo 'again' >> /etc/motd-state", check=True)  # drift, same version
        await schedule.run_due(now=time.time() + 2 * 3600)
        (again,) = [j for j in await engine.jobs(limit=1) if j.trigger is Trigger.SCHEDULE]
        assert again.id != job.id
        assert (await finished(engine, again.id)).status is JobStatus.COMPLETED
        report = await engine.state.report(drifting.name, "baseline")
        assert report is not None and not report.intentional  # corrective
        assert [r.resource for r in report.resources if r.status == "changed"] == [
            "file:/etc/motd-state"
        ]


async def finished(engine: Engine, job_id: str) -> Job:
    for _ in range(1200):
        job = await engine.job(job_id)
        if job.status.finished:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job.host_runs}")
