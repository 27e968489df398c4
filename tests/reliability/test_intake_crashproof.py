"""Webhook intake against a real `opsconsole serve` and its real intake worker: no
request body, journal record or damaged journal line stops webhook jobs, hangs the
engine's shutdown, or keeps the next engine from starting (issue 9, items 1 and 8)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.serve.conftest import Serve, Site, runbook

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
