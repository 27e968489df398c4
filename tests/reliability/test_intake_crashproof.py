"""Webhook intake against a real `opsconsole serve` and its real intake worker: no
request body, journal record or damaged journal line stops webhook jobs, hangs the
engine's shutdown, or keeps the next engine from starting (issue 9, items 1 and 8)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from console.webhooks.intake.journal import IntakeRecord, intake_dir
from tests.serve.conftest import OPSCONSOLE, Serve, Site, runbook

DEADLINE = 30.0


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Status and JSON answer of one POST (urllib: not the client the server uses)."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def nested(depth: int) -> bytes:
    """A small JSON body nested `depth` levels deep (700 levels: 1.4 KB)."""
    return b"[" * depth + b"]" * depth


def stored_jobs(site: Site) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in site.cli_json("jobs", "list", "--limit", "100000")}


def wait_finished(site: Site, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """`jobs list` once every one of `job_ids` is listed and has ended."""
    deadline = time.monotonic() + DEADLINE
    while True:
        jobs = stored_jobs(site)
        done = [i for i in job_ids if i in jobs and jobs[i]["ended"] is not None]
        if len(done) == len(job_ids) or time.monotonic() > deadline:
            missing = sorted(set(job_ids) - set(done))
            assert not missing, f"jobs never listed as ended: {missing}"
            return jobs
        time.sleep(0.2)


def moved(url: str, serve: Serve) -> str:
    """A webhook's URL on a restarted serve (it listens on a new free port)."""
    return f"{serve.url_base}/webhooks/{url.rsplit('/', 1)[1]}"


def hook(site: Site) -> str:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    return hook_after_start(site)


def hook_after_start(site: Site) -> str:
    """A new webhook `hook` on runbook noop; returns its URL."""
    return site.cli("webhooks", "create", "hook", "noop", "localhost").stdout.strip()


def test_a_deeply_nested_body_is_refused_and_webhook_jobs_go_on(site: Site) -> None:
    serve = site.serve()
    url = hook(site)
    body = nested(700)
    assert len(body) == 1400
    status, answer = post(url, body)
    assert status == 400 and answer["error"]["code"] == "TooDeeplyNested"
    assert "64" in answer["error"]["message"]
    assert post(url, nested(64))[0] == 202  # the limit itself is accepted
    accepted = [post(url, b'{"n": %d}' % n)[1]["JobIds"][0] for n in range(3)]
    jobs = wait_finished(site, accepted)
    assert [jobs[i]["status"] for i in accepted] == ["Completed"] * 3
    assert serve.stop() == 0
    again = site.serve()
    assert post(moved(url, again), b"{}")[0] == 202
    assert again.stop() == 0


def record(n: int, body: Any = None, line: bytes | None = None) -> IntakeRecord:
    """A request a worker acknowledged (its 202 was sent) before the engine stopped."""
    data = {"WebhookName": "hook", "RequestHeader": {}, "RequestBody": "{}"}
    if body is not None:
        data["RequestBodyJson"] = body
    return IntakeRecord(
        id=f"{int(time.time() * 1000) - 1000 + n:012x}0000{n:04d}",
        created=time.time() - 1,
        webhook="hook",
        runbook="noop",
        pattern="localhost",
        parameters={},
        data=data,
    )


def deep_line(item: IntakeRecord, depth: int) -> bytes:
    """`item`'s journal line with a body nested `depth` levels, as a worker without a
    nesting limit wrote it (by hand: json.dumps itself stops near 1,000 levels)."""
    head = item.to_line()[: -len(b'"}}\n')]
    return head + b'","RequestBodyJson":' + nested(depth) + b"}}\n"


def leave_journal(site: Site, lines: list[bytes]) -> Path:
    """A journal file as a stopped engine left it: lines, then the preallocated zeros."""
    directory = intake_dir(site.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "00000000000000000001-1.jsonl"
    path.write_bytes(b"".join(lines) + bytes(4096))
    return path


def test_records_that_cannot_be_imported_fail_alone_and_are_kept_aside(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    good = [record(n) for n in range(4)]
    deep, unreadable = record(4), record(5)
    lines = [deep_line(deep, 700), deep_line(unreadable, 5000)]
    left = leave_journal(
        site, [good[0].to_line(), good[1].to_line(), *lines, *[g.to_line() for g in good[2:]]]
    )
    serve = site.serve()
    jobs = wait_finished(site, [g.id for g in good] + [deep.id, unreadable.id])
    assert [jobs[g.id]["status"] for g in good] == ["Completed"] * 4
    rejected = intake_dir(site.data_dir) / "rejected.jsonl"
    for item in (deep, unreadable):
        failed = site.cli_json("jobs", "show", item.id)
        assert failed["status"] == "Failed" and failed["trigger_ref"] == "hook"
        assert "could not be imported" in failed["reason"] and str(rejected) in failed["reason"]
        assert "deeper than 64 levels" in failed["reason"]
    assert rejected.read_bytes() == b"".join(lines)  # the requests, as they came
    logged = [e for e in serve.logs() if "could not be imported" in e.get("event", "")]
    assert sorted(e["job_id"] for e in logged) == sorted([deep.id, unreadable.id])
    assert not left.exists()
    url = hook_after_start(site)
    status, answer = post(url, b"{}")
    assert status == 202
    assert wait_finished(site, answer["JobIds"])[answer["JobIds"][0]]["status"] == "Completed"
    assert serve.stop() == 0
    again = site.serve()  # the data directory a bad record left behind
    assert rejected.read_bytes() == b"".join(lines)
    assert again.stop() == 0


def test_a_damaged_journal_line_costs_that_record_alone(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    items = [record(n) for n in range(9)]
    lines = [item.to_line() for item in items]
    data = bytearray(b"".join(lines))
    middle = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isalnum())
    hit = data[:middle].count(b"\n")  # the line the middle byte is in
    data[middle] = 0xFF  # one byte: no longer UTF-8, so no longer JSON
    left = leave_journal(site, [bytes(data)])
    serve = site.serve()
    survivors = [item.id for n, item in enumerate(items) if n != hit]
    jobs = wait_finished(site, survivors)
    assert [jobs[i]["status"] for i in survivors] == ["Completed"] * 8  # before AND after it
    assert items[hit].id not in jobs
    damaged = left.with_name(left.name + ".damaged")
    where, kept = damaged.read_bytes().split(b"\n", 1)  # where and why, then the line
    offset = sum(map(len, lines[:hit]))
    assert where.startswith(f"# {left.name} line {hit + 1} (byte {offset}): ".encode())
    assert kept == bytes(data).splitlines(keepends=True)[hit]
    skipped = f"{left.name}: skipped 1 damaged record(s) (line {hit + 1}); kept in "
    events = [e.get("event", "") for e in serve.logs()]
    assert len([e for e in events if skipped in e and e.endswith(damaged.name)]) == 1
    assert not left.exists()
    assert serve.stop() == 0
    again = site.serve()
    assert len(stored_jobs(site)) == 8
    assert again.stop() == 0


def evil_cwd(site: Site) -> tuple[Path, Path]:
    """A directory holding a `console/` package that leaves a marker when imported."""
    evil, marker = site.root / "evil", site.root / "evil-code-ran"
    (evil / "console" / "intake").mkdir(parents=True)
    plant = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for init in ("console/__init__.py", "console/intake/__init__.py", "console/__main__.py"):
        (evil / init).write_text(plant)
    (evil / "console" / "intake" / "worker.py").write_text(plant)
    return evil, marker


def serve_from(site: Site, cwd: Path) -> Serve:
    log_path = site.root / "serve-from-cwd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(OPSCONSOLE), "serve", "--listen", "127.0.0.1:0", "--no-collection"],
            cwd=cwd,
            env=site.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    serve = Serve(proc, log_path)
    serve.started = serve.wait_for(lambda line: line.get("event") == "engine started", 15.0)
    return serve


def test_the_engines_helpers_run_the_installed_code_whatever_the_cwd(site: Site) -> None:
    evil, marker = evil_cwd(site)
    serve = serve_from(site, evil)
    url = hook(site)
    status, answer = post(url, b"{}")
    assert status == 202
    assert wait_finished(site, answer["JobIds"])[answer["JobIds"][0]]["status"] == "Completed"
    assert serve.stop() == 0
    # run --no-wait with no engine starts one in the background, from the same cwd.
    started = subprocess.run(
        [str(OPSCONSOLE), "run", "noop", "localhost", "--no-wait"],
        cwd=evil,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    assert site.wait_job(job_id, timeout=DEADLINE)["status"] == "Completed"
    assert not marker.exists(), marker.read_text()
