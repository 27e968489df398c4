"""The webhook model and registry: tokens, hashes, persistence, allow-lists."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from console.errors import ConfigError, UsageError
from console.secrets import SecretBox
from console.webhooks.registry import ONE_YEAR, Webhook, WebhookRegistry, hash_token, new_token
from tests.webhooks.conftest import MemoryStore


def make_registry(tmp_path: Path, store: MemoryStore | None = None) -> WebhookRegistry:
    return WebhookRegistry(store or MemoryStore(), SecretBox.for_data_dir(tmp_path, {}))


def test_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert len(token) >= 43  # 32 bytes, base64
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_only_the_token_hash_is_stored(tmp_path: Path) -> None:
    store = MemoryStore()
    registry = make_registry(tmp_path, store)
    webhook, token = registry.create("deploy", "deploy.sh", parameters={"env": "prod"}, now=1000.0)
    record = store.records["deploy"]
    assert token not in repr(record)
    assert record["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert record["expires"] == 1000.0 + ONE_YEAR  # Azure's default: one year
    assert registry.lookup(token) == webhook


def test_registry_reloads_from_store(tmp_path: Path) -> None:
    store = MemoryStore()
    first = make_registry(tmp_path, store)
    _, token = first.create(
        "deploy",
        "deploy.sh",
        secret="gh-secret",
        allow_from=["10.0.0.0/8", "2001:db8::/32"],
        rate_limit=5,
        burst=2,
    )
    first.disable("deploy")
    second = make_registry(tmp_path, store)
    second.load()
    loaded = second.lookup(token)
    assert loaded is not None
    assert (loaded.enabled, loaded.rate_limit, loaded.burst) == (False, 5, 2)
    assert loaded.allow_from == ["10.0.0.0/8", "2001:db8::/32"]
    assert "gh-secret" not in repr(store.records)  # the HMAC secret is encrypted at rest
    body = b'{"ref": "main"}'
    good = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
    assert second.verify_signature(loaded, body, good)
    assert not second.verify_signature(loaded, body + b" ", good)


def test_near_miss_and_prefix_tokens_find_nothing(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    _, token = registry.create("deploy", "deploy.sh")
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert registry.lookup(near) is None
    assert registry.lookup(token[:-1]) is None
    assert registry.lookup(token + "x") is None
    assert registry.lookup(hash_token(token)) is None  # the hash is not a token


def test_duplicate_names_and_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    registry.create("deploy", "deploy.sh")
    with pytest.raises(UsageError, match="already exists"):
        registry.create("deploy", "other.sh")
    with pytest.raises(UsageError, match="no webhook named"):
        registry.disable("nope")


def test_remove_forgets_the_token_and_the_record(tmp_path: Path) -> None:
    store = MemoryStore()
    registry = make_registry(tmp_path, store)
    _, token = registry.create("deploy", "deploy.sh")
    registry.remove("deploy")
    assert registry.lookup(token) is None
    assert store.records == {}


def test_expired_webhook_cannot_be_enabled_but_can_be_extended_before(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    registry.create("deploy", "deploy.sh", expires=2000.0, now=1000.0)
    registry.disable("deploy")
    registry.set_expiry("deploy", 5000.0, now=1500.0)
    assert registry.enable("deploy", now=4000.0).enabled
    with pytest.raises(UsageError, match="expired"):
        registry.enable("deploy", now=5000.0)
    with pytest.raises(UsageError, match="expired"):
        registry.set_expiry("deploy", 9000.0, now=6000.0)


def test_store_failure_leaves_memory_unchanged(tmp_path: Path) -> None:
    class FailingStore(MemoryStore):
        def save(self, name: str, record: dict[str, Any]) -> None:
            raise OSError("disk full")

    registry = make_registry(tmp_path, FailingStore())
    with pytest.raises(OSError):
        registry.create("deploy", "deploy.sh")
    assert registry.all() == []


@pytest.mark.parametrize(
    ("allow_from", "address", "allowed"),
    [
        ([], "203.0.113.9", True),
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "127.0.0.1", False),
        (["192.0.2.7"], "192.0.2.7", True),
        (["10.0.0.0/8"], "::ffff:10.9.9.9", True),  # IPv4-mapped from a dual-stack socket
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["fe80::/10"], "fe80::1%eth0", True),
        (["10.0.0.0/8"], None, False),
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
def test_allow_list(allow_from: list[str], address: str | None, allowed: bool) -> None:
    webhook = Webhook("w", "r.sh", hash_token("t"), allow_from=allow_from)
    assert webhook.allows(address) is allowed


def test_invalid_settings_are_rejected_with_a_usable_message() -> None:
    with pytest.raises(UsageError, match="not an IP network"):
        Webhook("w", "r.sh", hash_token("t"), allow_from=["10.0.0.0/33"])
    with pytest.raises(UsageError, match="rate limit"):
        Webhook("w", "r.sh", hash_token("t"), rate_limit=0)
    with pytest.raises(UsageError, match="webhook name"):
        Webhook("../x", "r.sh", hash_token("t"))


def test_damaged_record_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="'deploy'"):
        Webhook.from_dict({"name": "deploy", "runbook": "r.sh"})
