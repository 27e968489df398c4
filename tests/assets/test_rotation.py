"""`opsconsole assets rotate-key` is crash-safe: killed with SIGKILL at random points, it
leaves every asset and every webhook HMAC secret readable with its value, and a later
rotation completes. Then: only the new key is needed."""

from __future__ import annotations

import hashlib
import hmac
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from console.assets.vault import AssetVault
from console.secrets import KEY_FILE, NEXT_KEY_FILE, SecretBox
from console.store import Store
from console.webhooks.registry import WebhookRegistry
from console.webhooks.service import WebhookTable
from tests.serve.conftest import OPSCONSOLE, Site

ASSETS = 120
WEBHOOKS = 30
KILLS = 15
BODY = b'{"ping": 1}'


def run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def fill(data_dir: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Many assets and signed webhooks (some with a previous secret in its grace period);
    returns what each must still decrypt to."""
    store = Store(data_dir)
    vault = AssetVault(store, data_dir, environ={})
    values = {}
    for i in range(ASSETS):
        values[f"cred{i}"] = f"password-{i}-{random.random()}"
        run(vault.set_credential(f"cred{i}", "u", password=values[f"cred{i}"]))
    registry = WebhookRegistry(WebhookTable(store), SecretBox.for_data_dir(data_dir, {}))
    secrets: dict[str, list[str]] = {}
    for i in range(WEBHOOKS):
        secret = f"hmac-{i}-{random.random()}"
        registry.create(f"hook{i}", "rb", secret=secret)
        secrets[f"hook{i}"] = [secret]
        if i % 3 == 0:
            _, newer = registry.rotate_secret(f"hook{i}")
            secrets[f"hook{i}"].insert(0, newer)
    store.close()
    return values, secrets


def check_readable(
    data_dir: Path, values: dict[str, str], secrets: dict[str, list[str]], box: SecretBox | None
) -> None:
    store = Store(data_dir)
    try:
        vault = AssetVault(store, data_dir, environ={})
        for name, password in values.items():
            assert vault.resolve(name).values["password"] == password
        registry = WebhookRegistry(WebhookTable(store), box or SecretBox.for_data_dir(data_dir, {}))
        registry.load()
        by_name = {w.name: w for w in registry.all()}
        for name, accepted in secrets.items():
            for secret in accepted:
                signature = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
                assert registry.verify_signature(by_name[name], BODY, signature), name
    finally:
        store.close()


def rotate(site: Site) -> subprocess.Popen[str]:
    env = {k: v for k, v in site.env.items() if not k.startswith("OPSCONSOLE_SECRET_KEY")}
    return subprocess.Popen(
        [str(OPSCONSOLE), "assets", "rotate-key"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.timeout(900)
def test_rotate_key_killed_at_random_points_loses_nothing(site: Site) -> None:
    values, secrets = fill(site.data_dir)
    first_key = (site.data_dir / KEY_FILE).read_bytes()
    rng = random.Random()
    interrupted = 0
    for attempt in range(KILLS):
        proc = rotate(site)
        if attempt % 2:  # somewhere from start-up to the end
            time.sleep(rng.uniform(0.0, 3.0))
        else:  # in the middle of re-encrypting: once the next key is written
            while not (site.data_dir / NEXT_KEY_FILE).exists() and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        interrupted += (site.data_dir / NEXT_KEY_FILE).exists()
        check_readable(site.data_dir, values, secrets, None)
    assert interrupted, "no kill landed in the middle of a rotation"

    finished = rotate(site)
    out, err = finished.communicate(timeout=120)
    assert finished.returncode == 0, err
    assert f"{ASSETS + WEBHOOKS + WEBHOOKS // 3} stored secret(s) re-encrypted" in out
    assert not (site.data_dir / NEXT_KEY_FILE).exists()
    new_key = (site.data_dir / KEY_FILE).read_bytes()
    assert new_key != first_key
    only_new = SecretBox(new_key.strip(), "the new key")  # the old key is not needed any more
    check_readable(site.data_dir, values, secrets, only_new)
    assert [p.name for p in site.data_dir.iterdir() if "secret.key" in p.name] == [KEY_FILE]
