"""A scheduled deployment fires through the engine's scheduler like any schedule: a
real engine with its triggers, a deployment kept with a schedule a few seconds ahead,
and the run it starts (on a host that cannot be reached: nothing is installed here)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.cli.update_args import schedule_for
from console.engine.core import Engine
from console.engine.options import EngineOptions
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
    options = argparse.Namespace(at=at.isoformat(), cron=None, tz="UTC")
    async with Engine(settings, EngineOptions(triggers=True, listen="127.0.0.1:0")) as engine:
        await engine.updates.save_deployment(deployment)
        await engine.schedules.create(schedule_for(deployment, options))
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
