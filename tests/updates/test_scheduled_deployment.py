"""A scheduled deployment fires through the engine's scheduler like any schedule: a
real engine with its triggers, a deployment kept with a schedule a few seconds ahead,
and the run it starts (on a host that cannot be reached: nothing is installed here).
A schedule that cannot be made keeps no deployment."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.engine.updates_service import deployment_schedule
from console.errors import UsageError
from console.jobs.model import Trigger
from console.settings import Settings
from console.updates.model import Classification, Deployment, RebootSetting, Selection

INVENTORY = "all:\n  hosts:\n    ghost:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n"


async def test_a_scheduled_deployment_starts_its_run_at_its_time(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "runbooks").mkdir()
    settings = Settings(tmp_path / "inventory.yaml", tmp_path / "data", tmp_path / "runbooks")
    deployment = Deployment(
        "soon", "ghost", Selection((Classification.SECURITY,)), reboot=RebootSetting.NEVER
    )
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(tzinfo=None, microsecond=0)
    async with Engine(settings, EngineOptions(triggers=True, listen="127.0.0.1:0")) as engine:
        view = await engine.updates.schedule_deployment(deployment, at=at.isoformat())
        assert view["runbook"] == "(updates deploy)"
        for _ in range(600):
            runs = await engine.jobs(runbook="(updates deploy)")
            if runs and runs[0].status.finished:
                break
            await asyncio.sleep(0.1)
        (run,) = runs
        results = await engine.updates.results(run.id)
    assert (run.trigger, run.trigger_ref, run.hosts) == (Trigger.SCHEDULE, "soon", ["ghost"])
    (ghost,) = results
    assert ghost.status == "Failed" and ghost.error.startswith("unreachable: ")


async def test_a_schedule_that_cannot_be_made_keeps_no_deployment(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "hello.sh").write_text("echo hello\n")
    settings = Settings(tmp_path / "inventory.yaml", tmp_path / "data", tmp_path / "runbooks")
    deployment = Deployment("late", "ghost", Selection((Classification.SECURITY,)))
    async with Engine(settings, EngineOptions()) as engine:
        with pytest.raises(UsageError, match=r"--at: 2020-01-01T02:00 \(UTC\) is in the past"):
            await engine.updates.schedule_deployment(deployment, at="2020-01-01T02:00")
        with pytest.raises(UsageError, match="--cron"):
            await engine.updates.schedule_deployment(deployment, cron="61 * * * *")
        taken = deployment_schedule(deployment, None, "0 2 * * sun", None)
        await engine.schedules.create(replace(taken, runbook="hello", parameters={}))
        with pytest.raises(UsageError, match="a schedule named 'late' already exists"):
            await engine.updates.schedule_deployment(deployment, cron="0 3 * * sat")
        assert await engine.updates.deployments() == []
        weekly = Deployment("weekly", "ghost", Selection((Classification.SECURITY,)))
        view = await engine.updates.schedule_deployment(
            weekly, cron="0 2 * * sun", tz="Europe/Berlin"
        )
        with pytest.raises(UsageError, match="'weekly' is already scheduled"):
            await engine.updates.schedule_deployment(weekly, at="2099-01-01T00:00")
    assert (view["name"], view["timezone"], view["parameters"]) == (
        "weekly",
        "Europe/Berlin",
        {"deployment": "weekly"},
    )
    assert [d.name for d in await _kept(settings)] == ["weekly"]


async def _kept(settings: Settings) -> list[Deployment]:
    async with Engine(settings, EngineOptions()) as engine:
        return await engine.updates.deployments()
