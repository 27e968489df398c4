"""The webhook intake worker inside a real `opsconsole serve`: it is restarted when it
dies without losing an acknowledged job, a journal left by a crash is imported at the
next start, a webhook change is in force when the command returns, a graceful stop
imports everything acknowledged, and the worker's log lines reach serve's log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp

from console.webhooks.intake.journal import IntakeRecord, intake_dir, journal_files
from tests.certs import self_signed_cert
from tests.serve.conftest import Serve, Site, runbook


def post(url: str, body: bytes = b'{"n": 1}') -> tuple[int, list[str]]:
    """Status and job ids of one POST (urllib: a client other than aiohttp)."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, list(json.loads(response.read())["JobIds"])
    except urllib.error.HTTPError as error:
        return error.code, []


def worker_pids(serve: Serve) -> list[int]:
    return [line["pid"] for line in serve.events("webhook intake worker started")]


def make_site(site: Site) -> str:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    return "noop"


def test_a_killed_worker_is_restarted_and_no_acknowledged_job_is_lost(site: Site) -> None:
    make_site(site)
    serve = site.serve()
    url = site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()
    before = [post(url)[1][0] for _ in range(5)]
    first = worker_pids(serve)[0]
    os.kill(first, signal.SIGKILL)
    serve.wait_for(lambda line: "intake worker exited" in line.get("event", ""))
    serve.wait_for(lambda line: len(worker_pids(serve)) == 2)
    assert worker_pids(serve)[1] != first
    deadline = time.monotonic() + 60
    while (answer := post(url))[0] != 202 and time.monotonic() < deadline:
        time.sleep(0.1)  # the same port and URL: the engine kept the socket
    assert answer[0] == 202
    for job_id in [*before, answer[1][0]]:
        assert site.wait_job(job_id)["status"] == "Completed"
    assert serve.stop() == 0


def write_leftover(site: Site, records: list[IntakeRecord], tail: bytes) -> Path:
    directory = intake_dir(site.data_dir)
    directory.mkdir(parents=True)
    path = directory / "00000000000000000001-1.jsonl"
    path.write_bytes(b"".join(r.to_line() for r in records) + tail + bytes(1000))
    return path


def leftover(n: int, runbook_name: str) -> IntakeRecord:
    return IntakeRecord(
        id=f"{int(time.time() * 1000) - 1000 + n:012x}0000000{n}",
        created=time.time() - 1,
        webhook="hook",
        runbook=runbook_name,
        pattern="localhost",
        parameters={},
        data={"WebhookName": "hook", "RequestHeader": {}, "RequestBody": "{}"},
    )


def test_a_journal_left_by_a_crash_is_imported_at_start(site: Site) -> None:
    make_site(site)
    good, gone = leftover(1, "noop"), leftover(2, "deleted-since")
    torn = leftover(3, "noop")
    left = write_leftover(site, [good, gone], torn.to_line()[:40])
    serve = site.serve()
    assert site.wait_job(good.id)["status"] == "Completed"
    failed = site.wait_job(gone.id)
    # The caller got this id with its 202: the job exists and says why it did not run.
    assert failed["status"] == "Failed"
    assert "could not start" in failed["reason"] and "deleted-since" in failed["reason"]
    assert failed["trigger"] == "webhook" and failed["trigger_ref"] == "hook"
    shown = site.cli("jobs", "show", torn.id, check=False)
    assert shown.returncode != 0  # a torn line was never acknowledged
    assert not left.exists()  # imported, durable, deleted
    assert serve.stop() == 0
    assert journal_files(intake_dir(site.data_dir)) == []  # the worker's own too


def test_a_webhook_change_is_in_force_when_the_command_returns(site: Site) -> None:
    make_site(site)
    serve = site.serve()
    url = site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()
    for _ in range(3):
        assert post(url)[0] == 202
        site.cli("webhooks", "disable", "hook")
        assert post(url)[0] == 400
        site.cli("webhooks", "enable", "hook")
    site.cli("webhooks", "delete", "hook")
    assert post(url)[0] == 404
    assert serve.stop() == 0


async def _flood(url: str, count: int, limit: float = 300.0) -> list[str]:
    """Eight clients posting at once until `count` requests were acknowledged (a size
    of flood, not a speed: a slow machine takes longer to get there)."""
    accepted: list[str] = []

    async def client(session: aiohttp.ClientSession) -> None:
        end = time.monotonic() + limit
        while len(accepted) < count and time.monotonic() < end:
            async with session.post(url, data=b"{}") as response:
                if response.status == 202:
                    accepted.extend((await response.json())["JobIds"])

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(8)))
    return accepted


def test_sigterm_after_a_flood_imports_every_acknowledged_job(site: Site) -> None:
    make_site(site)
    serve = site.serve()
    url = site.cli(
        "webhooks", "create", "hook", "noop", "localhost", "--rate-limit", "1000000"
    ).stdout.strip()
    accepted = asyncio.run(_flood(url, 300))
    assert len(accepted) >= 300
    assert serve.stop(timeout=60) == 0
    assert journal_files(intake_dir(site.data_dir)) == []
    again = site.serve()
    stored = {j["id"] for j in site.cli_json("jobs", "list", "--limit", "1000000")}
    assert not [job_id for job_id in accepted if job_id not in stored]
    assert again.stop(timeout=60) == 0


def test_the_workers_log_lines_reach_serves_log_with_the_token_redacted(site: Site) -> None:
    make_site(site)
    serve = site.serve()
    url = site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()
    wrong = url[:-4] + "AAAA"
    assert post(wrong)[0] == 404
    line = serve.wait_for(lambda line: line.get("logger") == "console.webhooks.http.access")
    assert "/webhooks/<redacted>" in line["event"] and " 404 " in line["event"]
    assert serve.stop() == 0
    assert url.rsplit("/", 1)[1] not in serve.text() and wrong.rsplit("/", 1)[1] not in serve.text()


def test_serve_answers_webhooks_over_tls_and_refuses_a_bad_certificate(site: Site) -> None:
    make_site(site)
    cert, key = self_signed_cert(site.root)
    serve = site.serve("--tls-cert", str(cert), "--tls-key", str(key))
    url = site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()
    assert url.startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=str(cert))
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=60, context=trust) as response:
        assert response.status == 202
        job_id = json.loads(response.read())["JobIds"][0]
    assert site.wait_job(job_id)["status"] == "Completed"
    assert serve.stop() == 0
    # A key that does not load is serve's own error at start, not a silent worker death.
    (site.root / "bad.key").write_text("not a key")
    bad = site.serve("--tls-cert", str(cert), "--tls-key", str(site.root / "bad.key"), wait=False)
    assert bad.proc.wait(60) != 0
    assert "cannot load the TLS certificate" in bad.text()


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_worker_answers_before_the_engine_when_the_system_allows_it(site: Site) -> None:
    make_site(site)
    serve = site.serve()  # as root (CI): allowed
    worker = serve.wait_for(lambda line: line.get("event") == "webhook intake worker started")
    deadline = time.monotonic() + 60  # it raises its priority first thing after it starts
    while nice_of(worker["pid"]) == nice_of(serve.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert nice_of(worker["pid"]) == nice_of(serve.pid) - 5
    assert serve.stop() == 0
    # Without CAP_SYS_NICE (an unprivileged install): same priority, and the log says so.
    bounded = ("setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice")
    plain = site.serve(prefix=bounded)
    line = plain.wait_for(lambda line: "runs at the engine's priority" in line.get("event", ""))
    assert "LimitNICE" in line["event"]
    worker = plain.events("webhook intake worker started")[0]
    assert nice_of(worker["pid"]) == nice_of(plain.pid)
    url = site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()
    assert post(url)[0] == 202  # and it serves all the same
    assert plain.stop() == 0
