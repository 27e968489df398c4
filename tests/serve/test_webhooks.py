"""Webhooks through a running `opsconsole serve`: created by the CLI (URL shown once),
called with a real HTTP client, the request reaching shell and python runbooks as
`WebhookData`; tokens and signatures never written anywhere. And a `kill -9` in the
middle of a flood: every request answered 202 has its job after the restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from tests.serve.conftest import Site, runbook

PY_RUNBOOK = """\
#!/usr/bin/env python3
# /// runbook
# description = "reports the webhook request"
# ///
print("name=" + webhook_data["WebhookName"])
print("service=" + webhook_data["RequestBodyJson"]["service"])
print("body=" + webhook_data["RequestBody"])
print("agent=" + webhook_data["RequestHeader"]["X-Caller"])
"""


def post(
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def files_containing(root: Path, needle: str) -> list[Path]:
    raw = needle.encode()
    return [
        p for p in root.rglob("*") if p.is_file() and not p.is_socket() and raw in p.read_bytes()
    ]


def test_webhook_request_reaches_shell_and_python_runbooks_and_secrets_stay_secret(
    site: Site,
) -> None:
    site.add_runbook("hook-sh.sh", runbook("prints WebhookData", 'echo "$OPS_WEBHOOK_DATA"'))
    site.add_runbook("hook-py.py", PY_RUNBOOK)
    serve = site.serve()
    made = site.cli("webhooks", "create", "sh-hook", "hook-sh", "localhost", "--secret")
    url, secret_line = made.stdout.splitlines()
    secret = secret_line.removeprefix("secret: ")
    py_url = site.cli("webhooks", "create", "py-hook", "hook-py", "localhost").stdout.strip()
    assert url.startswith(serve.url_base) and py_url.startswith(serve.url_base)

    body = json.dumps({"service": "billing", "version": 7}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    status, answer = post(
        url, body, {"X-Hub-Signature-256": f"sha256={signature}", "X-Caller": "ci"}
    )
    assert status == 202 and len(answer["JobIds"]) == 1
    status, py_answer = post(py_url, body, {"X-Caller": "ci"})
    assert status == 202

    sh_job = site.wait_job(answer["JobIds"][0])
    assert sh_job["status"] == "Completed", sh_job
    assert sh_job["trigger"] == "webhook" and sh_job["trigger_ref"] == "sh-hook"
    data = json.loads(sh_job["streams"][0]["text"])
    assert data["WebhookName"] == "sh-hook"
    assert data["RequestBody"] == body.decode()
    assert data["RequestBodyJson"] == {"service": "billing", "version": 7}
    assert data["RequestHeader"]["X-Caller"] == "ci"
    assert data["RequestHeader"]["X-Hub-Signature-256"] == "<redacted>"

    py_job = site.wait_job(py_answer["JobIds"][0])
    assert py_job["status"] == "Completed", py_job
    assert [s["text"] for s in py_job["streams"]] == [
        "name=py-hook",
        "service=billing",
        f"body={body.decode()}",
        "agent=ci",
    ]

    listed = site.cli("webhooks", "list", "--json").stdout
    shown = site.cli("jobs", "show", sh_job["id"], "--json").stdout
    assert serve.stop() == 0
    secrets = {
        "token": url.rsplit("/", 1)[1],
        "py token": py_url.rsplit("/", 1)[1],
        "signature": signature,
        "hmac secret": secret,
    }
    for what, value in secrets.items():
        assert value not in serve.text(), f"the {what} is in serve's log"
        assert value not in shown, f"the {what} is in `jobs show --json`"
        assert value not in listed, f"the {what} is in `webhooks list`"
        assert not files_containing(site.data_dir, value), f"the {what} is stored in clear"


async def _flood(url: str, serve_pid: int, kill_after: int) -> list[str]:
    """Post as fast as 8 connections allow; kill -9 serve after `kill_after` 202s."""
    accepted: list[str] = []
    body = json.dumps({"n": 1}).encode()

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.post(url, data=body) as response:
                    if response.status == 202:
                        accepted.extend((await response.json())["JobIds"])
                        if len(accepted) >= kill_after:
                            os.kill(serve_pid, signal.SIGKILL)
            except aiohttp.ClientError:
                return  # serve is gone

    async with aiohttp.ClientSession() as session:
        await asyncio.wait_for(asyncio.gather(*(worker(session) for _ in range(8))), 60)
    return accepted


def test_kill_9_during_a_webhook_flood_loses_no_acknowledged_job(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    serve = site.serve()
    url = site.cli(
        "webhooks", "create", "flood", "noop", "localhost", "--rate-limit", "1000000"
    ).stdout.strip()
    accepted = asyncio.run(_flood(url, serve.pid, kill_after=150))
    assert serve.proc.wait(60) == -signal.SIGKILL
    assert len(accepted) >= 150

    # Every tinydb file is whole JSON, and a new engine loads the store.
    for path in site.data_dir.rglob("*.json"):
        json.loads(path.read_text())
    again = site.serve()
    stored = {j["id"]: j for j in site.cli_json("jobs", "list", "--limit", "100000")}
    missing = [job_id for job_id in accepted if job_id not in stored]
    assert not missing, f"{len(missing)} of {len(accepted)} acknowledged jobs were lost"
    assert {stored[job_id]["trigger"] for job_id in accepted} == {"webhook"}
    # The recovered engine ends what the crash interrupted: nothing stays Running.
    last = site.wait_job(accepted[-1])
    assert last["status"] in ("Completed", "Failed"), last
    assert again.stop() == 0
