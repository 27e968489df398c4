"""Schedules in a running `opsconsole serve`: runs fire within a second of their time,
every decision is visible in `schedules show --json`, missed runs follow the misfire
rule after a restart, and no due time ever starts two jobs, across restarts too.

Cron expressions with a sixth (seconds) field keep these tests short: `*/3` in the
seconds field is due at every wall-clock second divisible by 3.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.serve.conftest import Site, runbook

EVERY_2S = "* * * * * */2"
EVERY_3S = "* * * * * */3"
FIRED = ("fired", "ran_late")


def now_start() -> tuple[str, str]:
    """`--start` now: without it a schedule starts at the next whole minute."""
    return "--start", datetime.now(UTC).isoformat(timespec="seconds")


def decisions(site: Site, name: str) -> list[dict[str, Any]]:
    return list(site.cli_json("schedules", "show", name, "--decisions", "1000")["decisions"])


def schedule_jobs(site: Site) -> list[dict[str, Any]]:
    return [
        j for j in site.cli_json("jobs", "list", "--limit", "10000") if j["trigger"] == "schedule"
    ]


def sleep_until_phase(period: int, phase: float) -> None:
    """Sleep until the wall clock is `phase` seconds past a multiple of `period`."""
    now = time.time()
    wait = (phase - now % period) % period
    time.sleep(wait)


def test_runs_fire_within_a_second_and_overlaps_are_recorded(site: Site) -> None:
    site.add_runbook("tick.sh", runbook("quick", "echo tick"))
    site.add_runbook("slow.sh", runbook("outlives its period", "sleep 3"))
    serve = site.serve("--grace", "0")
    for name in ("tick", "slow"):
        site.cli("schedules", "create", name, name, "localhost", "--cron", EVERY_2S, *now_start())
    time.sleep(5.5)
    assert serve.stop() == 0

    ticks = [d for d in decisions(site, "tick") if d["action"] in FIRED]
    assert len(ticks) >= 2, decisions(site, "tick")
    jobs = {j["id"]: j for j in schedule_jobs(site)}
    for decision in ticks:
        assert decision["action"] == "fired" and decision["delay"] < 1.0, decision
        job = jobs[decision["job_id"]]
        created = datetime.fromisoformat(job["created"])
        assert 0 <= (created - datetime.fromisoformat(decision["due"])).total_seconds() < 1.0
        assert job["runbook"] == "tick"

    slow = decisions(site, "slow")
    skipped = [d for d in slow if d["action"] == "skipped_running"]
    assert skipped, slow
    assert "overlap rule skip" in skipped[0]["detail"]
    assert sum(d["action"] in FIRED for d in slow) >= 1


def test_misfires_follow_the_rule_and_no_due_time_fires_twice_across_restarts(site: Site) -> None:
    site.add_runbook("tick.sh", runbook("quick", "echo tick"))
    serve = site.serve("--grace", "5")
    for name, rule in (("skipper", "skip"), ("catchup", "run-once")):
        site.cli(
            "schedules",
            "create",
            name,
            "tick",
            "localhost",
            "--cron",
            EVERY_3S,
            *now_start(),
            "--misfire",
            rule,
            "--misfire-grace",
            "0.5s",
        )
    site.cli("schedules", "create", "steady", "tick", "localhost", "--cron", EVERY_3S, *now_start())
    time.sleep(3.5)
    assert serve.stop() == 0
    stopped_at = time.time()

    # Down over at least two due times; back 1.2 s after one (later than the 0.5 s grace,
    # well before the next), so the latest missed run is a misfire too.
    time.sleep(6.5)
    sleep_until_phase(3, 1.2)
    back_at = time.time()
    serve = site.serve("--grace", "5")
    time.sleep(2.5)
    assert serve.stop() == 0
    # An immediate restart: the watermark, not luck, keeps a due time from firing again.
    serve = site.serve("--grace", "5")
    time.sleep(3.5)
    assert serve.stop() == 0

    def missed(name: str) -> list[dict[str, Any]]:
        """Decisions about the due times of the first gap. (The immediate restart can
        leave a gap of its own on a slow machine; "never twice" below covers it.)"""
        return [
            d
            for d in decisions(site, name)
            if d["due"] and stopped_at < datetime.fromisoformat(d["due"]).timestamp() < back_at
        ]

    skipper = missed("skipper")
    gap = [d for d in skipper if d["action"] == "skipped_misfire"]
    assert len(gap) >= 2, skipper
    assert all("misfire rule skip" in d["detail"] for d in gap), gap
    gap_dues = {d["due"] for d in gap}
    assert not [d for d in skipper if d["action"] in FIRED and d["due"] in gap_dues]

    catchup = [d for d in missed("catchup") if d["due"] in gap_dues or d["action"] in FIRED]
    once = [d for d in catchup if "misfire rule run-once" in d["detail"]]
    assert len(once) == 1, catchup
    assert once[0]["action"] == "ran_late" and once[0]["delay"] > 1.0, once
    superseded = [d for d in catchup if d["action"] == "skipped_misfire"]
    assert len(superseded) == len(gap) - 1, catchup

    # Never twice: one job per fired due time, one fired decision per due time.
    jobs = schedule_jobs(site)
    fired = [
        d
        for name in ("skipper", "catchup", "steady")
        for d in decisions(site, name)
        if d["action"] in FIRED
    ]
    per_due = Counter((d["schedule"], d["due"]) for d in fired)
    assert max(per_due.values()) == 1, per_due
    assert sorted(d["job_id"] for d in fired) == sorted(j["id"] for j in jobs)
    assert len(fired) >= 6
