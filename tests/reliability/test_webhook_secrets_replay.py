"""Issue 9, items 3 and 4, through a real `opsconsole serve`, its real intake worker,
a real runbook on `localhost` and real HTTP clients.

Item 3: the webhook token, wherever the request carries it (a forwarding header, the
Referer, a query string, the body), and the values of headers whose names say they are
credentials, appear nowhere: not in `jobs show --json`, not in any file of the data
directory (the intake journal included), not in serve's log, not on the host.

Item 4: a repeated delivery is answered 202 with the original job ids and starts
nothing, across a worker and an engine restart; failed signatures do not spend the
budget of valid requests; the rate limit survives a worker restart; `rotate-secret`
prints a new secret once and the old one works for its grace period only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.serve.conftest import Serve, Site, runbook

SECRET_VALUE = "s3cr3t"
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Request-Id", "Idempotency-Key")


async def _post(
    url: str,
    body: bytes = b'{"n": 1}',
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, Any]]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=body, headers=headers or {}) as response,
    ):
        return response.status, await response.json(content_type=None)


def post(
    url: str,
    body: bytes = b'{"n": 1}',
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, Any]]:
    """Status and JSON answer of one POST, from the loopback address `source`."""
    return asyncio.run(_post(url, body, headers, source))


def sign(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}"}


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under `root` whose bytes contain `needle`."""
    raw = needle.encode()
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_socket() and raw in path.read_bytes():
                found.append(path)
    return found


def worker_pids(serve: Serve) -> list[int]:
    return [line["pid"] for line in serve.events("webhook intake worker started")]


def restart_worker(serve: Serve) -> None:
    """kill -9 the intake worker and wait until its successor serves."""
    before = worker_pids(serve)
    os.kill(before[-1], signal.SIGKILL)
    serve.wait_for(lambda line: len(worker_pids(serve)) > len(before), timeout=30)


def runbook_jobs(site: Site, name: str) -> list[dict[str, Any]]:
    return list(site.cli_json("jobs", "list", "--runbook", name, "--limit", "1000"))


def create(site: Site, name: str, *options: str, book: str = "noop") -> tuple[str, str | None]:
    """Create a webhook on `book`; its URL and, when signed, its HMAC secret."""
    made = site.cli_json("webhooks", "create", name, book, "localhost", *options)
    return made["url"], made["secret"]


# ---------------------------------------------------------------------- item 3


def test_the_token_and_credential_headers_reach_no_store_log_or_host(site: Site) -> None:
    site.add_runbook("show-data.sh", runbook("prints WebhookData", 'echo "$OPS_WEBHOOK_DATA"'))
    serve = site.serve()
    url = site.cli("webhooks", "create", "hook", "show-data", "localhost").stdout.strip()
    token = url.rsplit("/", 1)[1]
    body = json.dumps({"callback": url, "n": 1}).encode()
    headers = {
        "X-Forwarded-Uri": f"/webhooks/{token}",
        "X-Original-URL": f"/webhooks/{token}?again={token}",
        "Referer": url,
        "X-Api-Key": SECRET_VALUE,
        "X-Auth-User": SECRET_VALUE,
        "My-Session": SECRET_VALUE,
        "Cookie": f"id={SECRET_VALUE}",
        "X-Upstream-Token": SECRET_VALUE,
        "X-Caller": "ci",
    }
    status, answer = post(f"{url}?token={token}", body, headers)
    assert status == 202
    job_id = answer["JobIds"][0]
    job = site.wait_job(job_id)
    assert job["status"] == "Completed", job

    seen_on_host = json.loads(job["streams"][0]["text"])
    sent = seen_on_host["RequestHeader"]
    assert sent["X-Caller"] == "ci"  # an ordinary header arrives as sent
    for name in ("X-Api-Key", "X-Auth-User", "My-Session", "Cookie", "X-Upstream-Token"):
        assert sent[name] == "<redacted>", name
    assert sent["X-Forwarded-Uri"] == "/webhooks/<redacted>"
    assert sent["X-Original-URL"] == "/webhooks/<redacted>?again=<redacted>"
    assert seen_on_host["RequestBodyJson"]["n"] == 1

    shown = site.cli("jobs", "show", job_id, "--json").stdout
    stored_while_serving = {
        value: files_containing(site.data_dir, value) for value in (token, SECRET_VALUE)
    }
    assert serve.stop() == 0
    for value in (token, SECRET_VALUE):
        assert value not in shown, f"{value!r} is in `jobs show --json`"
        assert value not in job["streams"][0]["text"], f"{value!r} reached the host"
        assert value not in serve.text(), f"{value!r} is in serve's log"
        assert not stored_while_serving[value], f"{value!r} was on disk while serving"
        assert not files_containing(site.data_dir, value), f"{value!r} is stored"


# ---------------------------------------------------------------------- item 4


def test_a_repeated_delivery_gets_the_original_job_ids_across_restarts(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    site.add_runbook("other.sh", runbook("does nothing either", "true"))
    serve = site.serve()
    url, secret = create(site, "signed", "--secret")
    other_url, _ = create(site, "other", book="other")
    assert secret is not None
    body = b'{"action": "push"}'
    first: dict[str, list[str]] = {}
    for header in DELIVERY_HEADERS:
        headers = {header: f"delivery-{header}", **sign(secret, body)}
        status, answer = post(url, body, headers)
        assert status == 202
        first[header] = answer["JobIds"]
        assert post(url, body, headers) == (202, {"JobIds": first[header]})
    fresh = post(url, body, {"X-GitHub-Delivery": "another", **sign(secret, body)})
    assert fresh[0] == 202 and fresh[1]["JobIds"] not in first.values()
    # The same delivery id for another webhook is another delivery.
    elsewhere = post(other_url, body, {"X-GitHub-Delivery": "delivery-X-GitHub-Delivery"})
    assert elsewhere[0] == 202 and elsewhere[1]["JobIds"] != first["X-GitHub-Delivery"]

    restart_worker(serve)
    for header in DELIVERY_HEADERS:
        headers = {header: f"delivery-{header}", **sign(secret, body)}
        assert post(url, body, headers) == (202, {"JobIds": first[header]})
    assert serve.stop() == 0

    serve = site.serve()
    url = serve.url_base + "/webhooks/" + url.rsplit("/", 1)[1]  # a new port
    for header in DELIVERY_HEADERS:
        headers = {header: f"delivery-{header}", **sign(secret, body)}
        assert post(url, body, headers) == (202, {"JobIds": first[header]})

    jobs = runbook_jobs(site, "noop")
    assert sorted(job["id"] for job in jobs) == sorted(
        [*(ids[0] for ids in first.values()), fresh[1]["JobIds"][0]]
    )
    assert serve.stop() == 0
    assert not files_containing(site.data_dir, secret)


def test_bad_signatures_do_not_spend_the_budget_of_valid_requests(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    serve = site.serve()
    url, secret = create(site, "signed", "--secret", "--allow-from", "127.0.0.0/30")
    assert secret is not None
    body = b'{"n": 1}'
    forged = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    # Far more refusals than the burst of 10: bad signatures from an allowed address,
    # good ones from an address outside the allow-list.
    attacker = "127.0.0.3"
    assert {post(url, body, forged, source=attacker)[0] for _ in range(25)} == {401, 429}
    assert {post(url, body, sign(secret, body), source="127.0.0.5")[0] for _ in range(25)} == {403}
    wrong = sign("not the secret", body)
    assert {post(url, body, wrong, source=attacker)[0] for _ in range(5)} <= {401, 429}

    valid = [post(url, body, sign(secret, body), source="127.0.0.1") for _ in range(10)]
    assert [status for status, _ in valid] == [202] * 10  # the whole burst
    assert post(url, body, sign(secret, body))[0] == 429  # and no more
    assert serve.stop() == 0


def test_the_rate_limit_survives_a_worker_restart(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    serve = site.serve()
    url, _ = create(site, "slow", "--rate-limit", "1")  # 1 a minute, a burst of 10
    assert [post(url)[0] for _ in range(10)] == [202] * 10
    assert post(url)[0] == 429
    restart_worker(serve)
    deadline = time.monotonic() + 30
    while (status := post(url)[0]) not in (202, 429) and time.monotonic() < deadline:
        time.sleep(0.1)  # the new worker is starting on the same socket
    assert status == 429
    assert serve.stop() == 0


def test_rotate_secret_keeps_the_old_secret_for_its_grace_period_only(site: Site) -> None:
    site.add_runbook("noop.sh", runbook("does nothing", "true"))
    serve = site.serve()
    url, first = create(site, "signed", "--secret")
    assert first is not None
    body = b'{"n": 1}'

    rotated = site.cli("webhooks", "rotate-secret", "signed")
    second = rotated.stdout.strip().removeprefix("secret: ")
    assert second and second != first and first not in rotated.stdout
    assert "24 h" in rotated.stderr  # says how long the old one stays valid
    assert post(url, body, sign(second, body))[0] == 202
    assert post(url, body, sign(first, body))[0] == 202  # within its grace period

    third = site.cli_json("webhooks", "rotate-secret", "signed", "--grace-hours", "0")["secret"]
    assert post(url, body, sign(third, body))[0] == 202
    assert post(url, body, sign(second, body))[0] == 401
    assert post(url, body, sign(first, body))[0] == 401  # one previous secret at most

    listed = site.cli("webhooks", "list", "--json").stdout
    create(site, "plain")
    refused = site.cli("webhooks", "rotate-secret", "plain", check=False)
    assert refused.returncode == 2 and "not signed" in refused.stderr
    assert serve.stop() == 0
    for secret in (first, second, third):
        assert secret not in listed and secret not in serve.text()
        assert not files_containing(site.data_dir, secret)
