"""Update management as a user runs it: real CLI processes (`opsconsole updates ...`)
on a real isolated fleet of four hosts with two local apt repositories (one a
`-security` archive); then, on an in-process engine, a deployment's pre-runbook,
reboot and post-runbook on the same fleet."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.model import Job
from console.settings import Settings
from console.updates.model import Classification, Deployment, RebootSetting, Selection
from tests.fleet import Fleet, FleetHost, start_fleet
from tests.state.conftest import NEEDS_ROOT
from tests.transports.helpers import pool_for
from tests.updates.test_assess_fleet import MAIN, SECURITY, build_deb, index, put
from tests.updates.test_deploy_reboot_fleet import restart_when_down

OPSCONSOLE = Path(sys.executable).with_name("opsconsole")
pytestmark = NEEDS_ROOT
PACKAGES = ("fleet-plain", "fleet-ssl", "fleet-tls")

FAILS_ON_HOST04 = """#!/bin/sh
# /// runbook
# description = "refuses to let host04 be patched"
# ///
[ "$(hostname)" != host04 ] || { echo "host04 is frozen" >&2; exit 3; }
"""
AFTER = """#!/bin/sh
# /// runbook
# description = "notes that it ran, and whether the reboot marker is still there"
# ///
ls /run/reboot-flag > /root/post-ran 2>&1; echo ran >> /root/post-ran
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Each host: 1.0 of three packages installed; 1.1 of fleet-plain in the plain
    repository, of fleet-ssl and fleet-tls in the security one."""
    debs = tmp_path_factory.mktemp("debs")
    with start_fleet(4, tmp_path_factory.mktemp("updates-cli")) as started:
        old = [build_deb(debs, name, "1.0") for name in PACKAGES]
        new = {name: build_deb(debs / "new", name, "1.1") for name in PACKAGES}
        for host in started.hosts:
            host.run(
                "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && "
                f"echo 'deb [trusted=yes] file:{MAIN} ./' > /etc/apt/sources.list.d/main.list && "
                f"echo 'deb [trusted=yes] file:{SECURITY} ./' > /etc/apt/sources.list.d/sec.list",
                check=True,
            )
            for deb in old:
                put(host, deb, MAIN)
            index(host)
            host.run(f"apt-get install -y -qq {' '.join(PACKAGES)}", check=True, timeout=120)
            put(host, new["fleet-plain"], MAIN)
            put(host, new["fleet-ssl"], SECURITY)
            put(host, new["fleet-tls"], SECURITY)
            index(host)
        yield started


@pytest.fixture(scope="module")
def root(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("updates-env")
    (root / "runbooks").mkdir()
    (root / "runbooks" / "freeze.sh").write_text(FAILS_ON_HOST04)
    (root / "runbooks" / "after.sh").write_text(AFTER)
    fleet.inventory(
        root / "inventory.yaml",
        host_vars={h.name: {"console_reboot_command": "kill 1"} for h in fleet.hosts},
    )
    return root


@pytest.fixture(scope="module")
def env(fleet: Fleet, root: Path) -> dict[str, str]:
    return {
        **fleet.ssh_env(),
        "OPSCONSOLE_INVENTORY": str(root / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(root / "data"),
        "OPSCONSOLE_RUNBOOKS": str(root / "runbooks"),
    }


def opsconsole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPSCONSOLE), *args], env=env, text=True, capture_output=True, timeout=600
    )


def json_of(env: dict[str, str], *args: str, code: int = 0) -> object:
    done = opsconsole(env, *args, "--json")
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


def versions(host: FleetHost) -> dict[str, str]:
    listed = host.run(f"dpkg-query -W {' '.join(PACKAGES)}", check=True).stdout
    return dict(line.split("\t") for line in listed.splitlines())


def test_assess_classifies_by_repository_and_lists_per_host(
    fleet: Fleet, env: dict[str, str]
) -> None:
    before = json_of(env, "updates", "summary", "fleet")
    assert {row["error"] for row in before} == {"not assessed yet"}
    rows = json_of(env, "updates", "assess", "fleet")
    assert [(r["host"], r["security"], r["other"], r["total"]) for r in rows] == [
        (h.name, 2, 1, 3) for h in fleet.hosts
    ]
    listed = json_of(env, "updates", "list", fleet.hosts[0].name, "--classification", "Security")
    assert [(r["name"], r["installed"], r["available"]) for r in listed] == [
        ("fleet-ssl", "1.0", "1.1"),
        ("fleet-tls", "1.0", "1.1"),
    ]
    assert all(r["source"].endswith("bookworm-security") for r in listed)


def test_a_security_deployment_patches_exactly_its_hosts_and_packages(
    fleet: Fleet, env: dict[str, str]
) -> None:
    one, two, three, _four = fleet.hosts
    untouched = versions(three)
    run = json_of(
        env, "updates", "deploy", "sec", f"{one.name},{two.name}",
        "--classification", "Security", "--exclude", "fleet-tls", "--reboot", "Never",
    )  # fmt: skip
    assert run["status"] == "Completed" and run["name"] == "sec"
    for host in (one, two):
        assert versions(host) == {"fleet-plain": "1.0", "fleet-ssl": "1.1", "fleet-tls": "1.0"}
    assert versions(three) == untouched
    results = {h["host"]: h for h in run["hosts"]}
    assert set(results) == {one.name, two.name}
    packages = {p["name"]: (p["from"], p["to"], p["status"]) for p in results[one.name]["packages"]}
    assert packages == {
        "fleet-ssl": ("1.0", "1.1", "Succeeded"),
        "fleet-tls": ("1.0", "1.0", "NotSelected"),  # excluded: exclusions win
        "fleet-plain": ("1.0", "1.0", "NotSelected"),
    }
    summary = {r["host"]: r for r in json_of(env, "updates", "summary", "fleet")}
    assert (summary[one.name]["security"], summary[one.name]["other"]) == (1, 1)  # current
    (listed,) = json_of(env, "updates", "runs", "list")
    assert (listed["id"], listed["name"]) == (run["id"], "sec")
    shown = opsconsole(env, "updates", "runs", "show", run["id"])
    assert "fleet-ssl 1.0 -> 1.1" in shown.stdout


def test_bad_input_is_refused_and_an_unreachable_host_is_reported(
    fleet: Fleet, env: dict[str, str]
) -> None:
    for args, said in (
        (("--classification", "Securty"), "unknown classification 'Securty'"),
        (("--classification", "Security", "--include", "a b"), "not a package name glob"),
        (("--classification", "Security", "--window", "10m"), "under the margins"),
        (("--classification", "Security", "--at", "2020-01-01T00:00"), "--at"),
        ((), "select updates"),
    ):
        done = opsconsole(env, "updates", "deploy", "bad", "fleet", *args)
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
    down = fleet.hosts[3]
    json_of(env, "updates", "assess", down.name, "--no-refresh")  # a good one first
    fleet.stop_host(down.name)
    try:
        done = opsconsole(env, "updates", "assess", "fleet", "--no-refresh", "--json")
    finally:
        fleet.start_host(down.name)
    assert done.returncode == 1
    rows = {r["host"]: r for r in json.loads(done.stdout)}
    assert rows[down.name]["error"].startswith("unreachable: ")
    assert rows[down.name]["security"] == 2  # the last good assessment is kept beside it
    assert all(not rows[h.name]["error"] for h in fleet.hosts[:3])


async def test_pre_runbook_failure_skips_its_host_and_a_reboot_precedes_the_post_runbook(
    fleet: Fleet, root: Path
) -> None:
    three, four = fleet.hosts[2], fleet.hosts[3]
    three.run("touch /run/reboot-flag /var/run/reboot-required", check=True)
    settings = Settings(
        inventory=root / "inventory.yaml", data_dir=root / "data", runbooks=root / "runbooks"
    )
    deployment = Deployment(
        "nightly",
        f"{three.name},{four.name}",
        Selection((Classification.SECURITY,)),
        window_s=3600,
        reboot=RebootSetting.IF_REQUIRED,
        pre="freeze",
        post="after",
    )
    async with Engine(settings, EngineOptions(), pool=pool_for(fleet)) as engine:
        watcher = asyncio.create_task(restart_when_down(fleet, three.name))
        job = await engine.updates.deploy(deployment)
        job = await finished(engine, job)
        await watcher
        results = {r.host: r for r in await engine.updates.results(job.id)}
    assert (results[four.name].status, results[four.name].error) == (
        "Skipped",
        "pre-runbook freeze failed (exit status 3)",
    )
    assert versions(four)["fleet-ssl"] == "1.0"
    assert results[three.name].status == "Succeeded" and results[three.name].rebooted
    assert results[three.name].reboot_note.startswith("back after ")
    # The post-runbook ran after the reboot: the flag in the old /run was gone by then.
    assert "No such file" in three.run("cat /root/post-ran", check=True).stdout
    assert versions(three)["fleet-ssl"] == "1.1"


async def finished(engine: Engine, job: Job) -> Job:
    for _ in range(3000):
        job = await engine.job(job.id)
        if job.status.finished:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job.id} did not finish: {job.host_runs}")


def test_a_deployment_at_a_time_is_kept_and_scheduled_until_deleted(
    fleet: Fleet, env: dict[str, str]
) -> None:
    done = opsconsole(
        env, "updates", "deploy", "night", "fleet", "--classification", "Security,Critical",
        "--exclude", "fleet-tls", "--at", "2099-01-01T02:00", "--tz", "Europe/Berlin",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deployment night scheduled; next run 2099-01-01T01:00:00+00:00" in done.stdout
    (kept,) = json_of(env, "updates", "deployments", "list")
    assert (kept["name"], kept["classifications"], kept["exclude"]) == (
        "night",
        ["Security", "Critical"],
        ["fleet-tls"],
    )
    (schedule,) = json_of(env, "schedules", "list")
    assert (schedule["name"], schedule["runbook"]) == ("night", "(updates deploy)")
    assert opsconsole(env, "updates", "deployments", "delete", "night").returncode == 0
    assert json_of(env, "updates", "deployments", "list") == []
    assert json_of(env, "schedules", "list") == []
