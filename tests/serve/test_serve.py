"""`opsconsole serve`: structured logs, graceful SIGTERM, one engine per data directory,
and CLI commands that attach to the running engine instead of starting their own."""

from __future__ import annotations

import signal
import time

from tests.serve.conftest import Site, runbook


def test_logs_json_lines_and_lets_a_running_job_finish_on_sigterm(site: Site) -> None:
    site.add_runbook("nap.sh", runbook("sleeps a little", "sleep 1.5; echo rested"))
    serve = site.serve("--grace", "60")
    assert serve.started["pid"] == serve.pid
    assert serve.url_base.startswith("http://127.0.0.1:")

    job_id = site.cli("run", "nap", "localhost", "--no-wait").stdout.strip()
    serve.wait_for(lambda line: line.get("job_id") == job_id and line["status"] == "Running")
    sent = time.monotonic()
    assert serve.stop(signal.SIGTERM) == 0
    took = time.monotonic() - sent

    job = site.cli_json("jobs", "show", job_id)
    assert job["status"] == "Completed", job
    assert [s["text"] for s in job["streams"]] == ["rested"]
    assert took < 30, f"serve took {took:.1f}s to stop after its only job finished"
    events = [line["event"] for line in serve.logs()]
    assert events[-1] == "engine stopped"
    changes = [
        (line["status"], line["trigger"]) for line in serve.logs() if line.get("job_id") == job_id
    ]
    assert changes[0] == ("Queued", "cli") and changes[-1] == ("Completed", "cli")
    # Stopping began while the job ran; the job completed inside the grace period.
    assert events.index("engine stopping") < events.index("job completed")


def test_sigterm_stops_a_job_that_outlives_the_grace_period_and_records_why(site: Site) -> None:
    site.add_runbook("long.sh", runbook("sleeps long", "echo begun; sleep 60"))
    serve = site.serve("--grace", "1")
    job_id = site.cli("run", "long", "localhost", "--no-wait").stdout.strip()
    serve.wait_for(lambda line: line.get("job_id") == job_id and line["status"] == "Running")
    sent = time.monotonic()
    assert serve.stop(signal.SIGTERM) == 0
    took = time.monotonic() - sent
    assert took < 30, f"serve took {took:.1f}s to stop with a 1 s grace period"

    job = site.cli_json("jobs", "show", job_id)
    assert job["status"] == "Stopped", job
    assert "grace" in job["reason"], job["reason"]
    stopped = serve.wait_for(
        lambda line: line.get("job_id") == job_id and line["status"] == "Stopped"
    )
    assert "grace" in stopped["reason"]


def test_jobs_still_queued_at_sigterm_run_when_the_engine_starts_again(site: Site) -> None:
    site.add_runbook("long.sh", runbook("sleeps long", "echo begun; sleep 60"))
    site.add_runbook("quick.sh", runbook("says hi", "echo hi"))
    serve = site.serve("--grace", "0", "--max-jobs", "1")
    running = site.cli("run", "long", "localhost", "--no-wait").stdout.strip()
    serve.wait_for(lambda line: line.get("job_id") == running and line["status"] == "Running")
    queued = [site.cli("run", "quick", "localhost", "--no-wait").stdout.strip() for _ in range(2)]
    assert serve.stop(signal.SIGTERM) == 0
    assert site.cli_json("jobs", "show", running)["status"] == "Stopped"
    assert [site.cli_json("jobs", "show", j)["status"] for j in queued] == ["Queued", "Queued"]
    again = site.serve()
    assert [site.wait_job(j)["status"] for j in queued] == ["Completed", "Completed"]
    assert again.stop() == 0


def test_sigint_also_stops_cleanly(site: Site) -> None:
    serve = site.serve()
    assert serve.stop(signal.SIGINT) == 0
    assert serve.events("engine stopped")


def test_a_second_serve_on_the_same_data_directory_is_refused(site: Site) -> None:
    first = site.serve()
    second = site.cli("serve", "--listen", "127.0.0.1:0", check=False, timeout=60)
    assert second.returncode == 2
    assert f"pid {first.pid}" in second.stderr
    assert first.proc.poll() is None, "the first engine must keep running"
    assert first.stop() == 0


def test_cli_commands_attach_to_the_running_engine(site: Site) -> None:
    site.add_runbook("hello.sh", runbook("says hello", "echo hello from $OPS_HOST"))
    serve = site.serve()

    run = site.cli("run", "hello", "localhost")
    assert "localhost | hello" in run.stdout
    jobs = site.cli_json("jobs", "list")
    assert len(jobs) == 1 and jobs[0]["status"] == "Completed"
    # The engine that ran it is serve: its log has the job, started from the CLI.
    serve.wait_for(
        lambda line: (
            line.get("job_id") == jobs[0]["id"]
            and line["status"] == "Completed"
            and line["trigger"] == "cli"
        )
    )

    url = site.cli("webhooks", "create", "deploy", "hello", "localhost").stdout.strip()
    assert url.startswith(serve.url_base + "/webhooks/"), (url, serve.url_base)
    serve.wait_for(
        lambda line: line.get("event") == "webhook created" and line["webhook"] == "deploy"
    )

    created = site.cli_json(
        "schedules", "create", "nightly", "hello", "localhost", "--cron", "0 3 * * *"
    )
    assert created["next"] is not None
    assert [s["name"] for s in site.cli_json("schedules", "list")] == ["nightly"]
    # Still one engine: serve holds the lock, and it is the one that knows the schedule.
    assert serve.proc.poll() is None
    # `run` followed the job over the event stream; that stream must not hold up SIGTERM.
    sent = time.monotonic()
    assert serve.stop() == 0
    assert time.monotonic() - sent < 20  # the default grace period is 30 s
    assert [s["name"] for s in site.cli_json("schedules", "list")] == ["nightly"]
