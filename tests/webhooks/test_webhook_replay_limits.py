"""The parts behind issue 9's items 3 and 4, on real files and a real listener: the
24-hour replay window and its file, the rate-limit file, the secret's grace period
after rotation, and which headers are masked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import stat
from pathlib import Path

import aiohttp
import pytest

from console.errors import UsageError
from console.webhooks.masking import is_credential_header
from console.webhooks.rate_limit import BucketFile, RateLimiter
from console.webhooks.registry import ROTATION_GRACE
from console.webhooks.replay import REPLAY_WINDOW, DeliveryLog
from tests.webhooks.conftest import Clock, Server


class Starts:
    """A real `start` for DeliveryLog.once: counts calls, returns a new id each."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> list[str]:
        self.count += 1
        await asyncio.sleep(0)  # let a concurrent copy arrive meanwhile
        return [f"job-{self.count}"]


async def test_a_delivery_is_remembered_for_24_hours_across_reopening(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "deliveries.log"
    log, starts = DeliveryLog(path, now=clock), Starts()
    assert await log.once("k1", starts) == ["job-1"]
    assert await log.once("k1", starts) == ["job-1"]
    log.close()

    clock.offset = REPLAY_WINDOW - 60
    reopened = DeliveryLog(path, now=clock)
    assert reopened.seen("k1") == ["job-1"]
    assert await reopened.once("k1", starts) == ["job-1"] and starts.count == 1
    reopened.close()

    clock.offset = REPLAY_WINDOW + 1
    later = DeliveryLog(path, now=clock)
    assert later.seen("k1") is None
    assert b"k1" not in path.read_bytes()  # pruned when the file was rewritten
    assert await later.once("k1", starts) == ["job-2"]
    later.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_concurrent_copies_of_a_delivery_start_one_job(tmp_path: Path) -> None:
    log, starts = DeliveryLog(tmp_path / "deliveries.log"), Starts()
    answers = await asyncio.gather(*(log.once("same", starts) for _ in range(5)))
    assert answers == [["job-1"]] * 5 and starts.count == 1
    log.close()


async def test_a_delivery_whose_job_failed_can_be_sent_again(tmp_path: Path) -> None:
    log, starts = DeliveryLog(tmp_path / "deliveries.log"), Starts()

    async def fails() -> list[str]:
        raise OSError("disk full")

    with pytest.raises(OSError):
        await log.once("k", fails)
    assert await log.once("k", starts) == ["job-1"]
    log.close()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


async def test_a_damaged_line_costs_only_its_own_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "deliveries.log"
    log, starts = DeliveryLog(path), Starts()
    for key in ("a", "b", "c"):
        await log.once(key, starts)
    log.close()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"{not json\n" + lines[1] + lines[2][:-8])  # and a torn end
    reopened = DeliveryLog(path)
    assert (reopened.seen("a"), reopened.seen("b"), reopened.seen("c")) == (
        ["job-1"],
        ["job-2"],
        None,
    )
    reopened.close()
    assert warnings(caplog) == [f"{path}: skipped 1 damaged line(s) (line 2)"]  # not the tail


async def test_a_torn_last_delivery_is_dropped_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "deliveries.log"
    log, starts = DeliveryLog(path), Starts()
    for key in ("a", "b"):
        await log.once(key, starts)
    log.close()
    path.write_bytes(path.read_bytes()[:-8])  # a worker killed in the middle of a write
    reopened = DeliveryLog(path)
    assert (reopened.seen("a"), reopened.seen("b")) == (["job-1"], None)
    reopened.close()
    assert warnings(caplog) == []


def test_rate_limit_file_damage_warns_once_and_a_torn_tail_not_at_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ratelimit.log"
    limiter = RateLimiter(BucketFile(path), now=1000.0)
    for key in ("a", "b", "c"):
        assert limiter.take(key, 6, 1, 1000.0) is None  # each bucket now empty
    limiter.close()
    lines = path.read_bytes().splitlines(keepends=True)

    path.write_bytes(b"".join(lines)[:-5])  # the last write cut short
    torn = RateLimiter(BucketFile(path), now=1000.0)
    torn.close()
    assert [torn.take(key, 6, 1, 1000.0) is None for key in "abc"] == [False, False, True]
    assert warnings(caplog) == []

    path.write_bytes(lines[0] + b'{"k":"b","r":\n' + lines[2])  # a damaged middle line
    damaged = RateLimiter(BucketFile(path), now=1000.0)
    damaged.close()
    assert [damaged.take(key, 6, 1, 1000.0) is None for key in "abc"] == [False, True, False]
    assert warnings(caplog) == [f"{path}: skipped 1 damaged line(s) (line 2)"]


def test_bucket_states_are_read_back_and_full_ones_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit.log"
    limiter = RateLimiter(BucketFile(path), now=1000.0)
    for _ in range(3):
        assert limiter.take("busy", 6, 3, 1000.0) is None  # one token every 10 s
    assert limiter.take("quiet", 6, 3, 1000.0) is None
    assert limiter.take("busy", 6, 3, 1000.0) == pytest.approx(10.0)
    limiter.close()

    resumed = RateLimiter(BucketFile(path), now=1005.0)
    assert resumed.take("busy", 6, 3, 1005.0) == pytest.approx(5.0)
    resumed.close()
    after_a_while = RateLimiter(BucketFile(path), now=2000.0)
    after_a_while.close()
    assert b"busy" not in path.read_bytes()  # full again: nothing to remember
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_previous_secret_is_valid_for_the_grace_period_only(server: Server) -> None:
    created = server.clock()
    server.create("signed", secret="first")
    registry = server.registry
    rotated, second = registry.rotate_secret("signed", now=created)
    body = b"{}"

    def signed_by(secret: str, at: float) -> bool:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return registry.verify_signature(rotated, body, f"sha256={digest}", now=at)

    assert signed_by(second, created) and signed_by("first", created)
    assert signed_by("first", created + ROTATION_GRACE - 1)
    assert not signed_by("first", created + ROTATION_GRACE + 1)
    assert signed_by(second, created + ROTATION_GRACE + 1)
    assert "first" not in str(registry.by_name("signed").to_dict())
    server.create("plain")
    with pytest.raises(UsageError, match="not signed"):
        registry.rotate_secret("plain")


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("X-Api-Key", True),
        ("authorization", True),
        ("X-Hub-Signature-256", True),
        ("Set-Cookie", True),
        ("X-Session-Id", True),
        ("X-Vault-Token", True),
        ("Client-Secret", True),
        ("X-GitHub-Event", False),
        ("Content-Type", False),
        ("Keep-Alive", False),
        ("X-Request-Id", False),
    ],
)
def test_headers_named_as_credentials_are_masked(name: str, masked: bool) -> None:
    assert is_credential_header(name) is masked


async def test_a_percent_encoded_token_in_a_header_is_masked_too(server: Server) -> None:
    token = server.create()
    spelled = "%" + format(ord(token[0]), "02X") + token[1:]  # the same URL, encoded
    async with aiohttp.ClientSession() as session:
        url = f"{server.listener.url_base}/webhooks/{spelled}"
        headers = {"X-Forwarded-Uri": f"/webhooks/{spelled}"}
        async with session.post(aiohttp.client.URL(url, encoded=True), headers=headers) as r:
            assert r.status == 202
    data = server.jobs.calls[-1][1]
    assert data["RequestHeader"]["X-Forwarded-Uri"] == "/webhooks/<redacted>"
