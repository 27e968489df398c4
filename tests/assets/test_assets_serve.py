"""The assets commands attached to a running `opsconsole serve` (over its control socket)
work as in-process, and a key rotation inside serve keeps signed webhooks verifying in
its separate intake worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request

from console.secrets import KEY_FILE, NEXT_KEY_FILE
from tests.assets.conftest import RunAssets, files_containing
from tests.serve.conftest import Site, runbook

PASSWORD = "pw-Attached-Horse-42"
BODY = b'{"deploy": "now"}'


def signed_post(url: str, secret: str) -> int:
    signature = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=BODY,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_attached_commands_and_a_signed_webhook_across_a_rotation(
    site: Site, assets: RunAssets
) -> None:
    site.add_runbook("hook.sh", runbook("says hello", "echo hello"))
    serve = site.serve()
    url, secret_line = site.cli(
        "webhooks", "create", "hook", "hook", "localhost", "--secret"
    ).stdout.splitlines()
    secret = secret_line.removeprefix("secret: ")
    assert signed_post(url, secret) == 202

    made = assets("set-credential", "db", "--username", "u", "--password-stdin", stdin=PASSWORD)
    assert made.returncode == 0, made.stderr
    key_before = (site.data_dir / KEY_FILE).read_bytes()
    rotated = assets("rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert "2 stored secret(s) re-encrypted" in rotated.stdout  # the password and the HMAC
    assert (site.data_dir / KEY_FILE).read_bytes() != key_before
    assert not (site.data_dir / NEXT_KEY_FILE).exists()

    assert signed_post(url, secret) == 202  # the intake worker still verifies
    assert signed_post(url, "not-the-secret") == 401
    shown = json.loads(assets("show", "db", "--json").stdout)
    assert shown["secret_fields"] == ["password"] and shown["fields"] == {"username": "u"}
    assert serve.stop() == 0
    for value in (PASSWORD, secret):
        assert value not in serve.text()
        assert not files_containing(site.data_dir, value)
