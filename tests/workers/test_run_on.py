"""`--run-on GROUP`: a local runbook runs on one worker of the group, started by `run`,
by a schedule or by a webhook."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

from tests.workers.harness import World, cli, serve, wait_until

WHERE = "#!/bin/sh\necho on-a-worker\n"


async def test_run_on_a_group_runs_the_runbook_on_one_of_its_workers(world: World) -> None:
    world.runbook("where.sh", WHERE)
    async with world.engine():
        pass  # stores the group key asset
    worker = world.worker("w1")
    done = await asyncio.to_thread(cli, world, "run", "where", "--run-on", "g1", "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Completed"
    assert [run["host"] for run in job["host_runs"]] == ["run-on/g1"]
    assert [r["text"] for r in job["streams"]] == ["on-a-worker"]
    assert f"running {job['id']}.run-on/g1" in worker.text()


def jobs_by_trigger(world: World) -> dict[str, list[dict[str, Any]]]:
    listed = cli(world, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    found: dict[str, list[dict[str, Any]]] = {}
    for job in json.loads(listed.stdout):
        found.setdefault(job["trigger"], []).append(job)
    return found


def completed(world: World, trigger: str) -> dict[str, Any] | None:
    """The first job of `trigger` that completed, shown in full."""
    for job in jobs_by_trigger(world).get(trigger, []):
        if job["status"] == "Completed":
            shown = cli(world, "jobs", "show", job["id"], "--json")
            assert shown.returncode == 0, shown.stderr
            result: dict[str, Any] = json.loads(shown.stdout)
            return result
    return None


async def test_a_schedule_and_a_webhook_with_run_on_run_on_a_worker_of_the_group(
    world: World,
) -> None:
    world.runbook("where.sh", WHERE)
    async with world.engine():
        pass  # stores the group key asset
    world.worker("w1")
    engine = serve(world, world.tmp / "serve.log")
    try:
        start = datetime.now(UTC).isoformat(timespec="seconds")
        made = await asyncio.to_thread(
            cli, world, "schedules", "create", "tick", "where", "--run-on", "g1",
            "--cron", "* * * * * */2", "--start", start,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        hook = await asyncio.to_thread(
            cli, world, "webhooks", "create", "hook", "where", "--run-on", "g1"
        )
        assert hook.returncode == 0, hook.stderr
        with urllib.request.urlopen(
            urllib.request.Request(hook.stdout.strip(), data=b"{}", method="POST"), timeout=60
        ) as answer:
            assert answer.status == 202
        jobs: dict[str, dict[str, Any]] = {}

        def both_completed() -> bool:
            for trigger in ("schedule", "webhook"):
                jobs[trigger] = jobs.get(trigger) or completed(world, trigger) or {}
            return all(jobs.values())

        await asyncio.to_thread(wait_until, both_completed, "both jobs completed on the worker")
    finally:
        engine.terminate()
        engine.wait()
    for job in jobs.values():
        assert [(r["host"], r["worker"]) for r in job["host_runs"]] == [("run-on/g1", "w1")]
        assert [r["text"] for r in job["streams"]] == ["on-a-worker"]


def test_run_on_and_a_pattern_together_or_a_bad_group_create_nothing(world: World) -> None:
    world.runbook("where.sh", WHERE)
    attempts = {
        ("run", "where", "--run-on", "g1", "here"): "give a pattern or --run-on GROUP, not both",
        ("schedules", "create", "s1", "where", "here", "--run-on", "g1", "--every", "1", "hours"):
        "give a pattern or --run-on GROUP, not both",
        ("webhooks", "create", "h1", "where", "here", "--run-on", "g1"):
        "give a pattern or --run-on GROUP, not both",
        ("schedules", "create", "s2", "where", "--every", "1", "hours"):
        "give a PATTERN (the hosts) or --run-on GROUP",
        ("webhooks", "create", "h2", "where", "--run-on", "no such/group"):
        "worker group 'no such/group': use 1-64 letters",
    }  # fmt: skip
    for args, message in attempts.items():
        done = cli(world, *args)
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
    for kind in ("schedules", "webhooks"):
        listed = cli(world, kind, "list", "--json")
        assert json.loads(listed.stdout) == [], listed.stdout
