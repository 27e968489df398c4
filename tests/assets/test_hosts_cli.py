"""Hosts that log in and become with credential assets, as a user does it: the real
`opsconsole assets` and `opsconsole exec` processes, the real vault, real sshd hosts
with a password user (`start_fleet(login_user=True)`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet import LOGIN_USER, Fleet, start_fleet

OPSCONSOLE = Path(sys.executable).with_name("opsconsole")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/sudo").exists(),
    reason="needs root (an isolated fleet with a login user) and sudo",
)


@pytest.fixture(scope="module")
def users_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(2, tmp_path_factory.mktemp("hosts-cli"), login_user=True) as started:
        yield started


def environment(fleet: Fleet, root: Path) -> dict[str, str]:
    return {
        **fleet.ssh_env(),
        "OPSCONSOLE_INVENTORY": str(root / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(root / "data"),
        "OPSCONSOLE_RUNBOOKS": str(root / "runbooks"),
    }


def opsconsole(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPSCONSOLE), *args], env=env, input=stdin, text=True, capture_output=True, timeout=120
    )


def test_exec_logs_in_with_the_credential_and_becomes_root(
    users_fleet: Fleet, tmp_path: Path
) -> None:
    """host01 logs in as the credential's user and becomes root with its password;
    host02 says ansible_user root on the host itself, which contradicts the credential:
    it fails naming both, and host01 is not held up by it."""
    (tmp_path / "runbooks").mkdir()
    env = environment(users_fleet, tmp_path)
    password = str(users_fleet.login_password)
    users_fleet.inventory(
        tmp_path / "inventory.yaml",
        host_vars={"host01": {"ansible_user": LOGIN_USER}},
        group_vars={"console_credential": "Deploy", "ansible_become": True},
    )
    stored = opsconsole(
        env,
        "assets",
        "set-credential",
        "Deploy",
        "--username",
        LOGIN_USER,
        "--password-stdin",
        stdin=password + "\n",
    )
    assert stored.returncode == 0, stored.stderr
    done = opsconsole(env, "exec", "fleet", "--", 'echo "$(id -un) as $(id -u)"')
    assert done.returncode == 1
    assert f"host01 | {LOGIN_USER} as 0" not in done.stdout  # id -un is the become user
    assert "host01 | root as 0" in done.stdout.splitlines()
    # a configuration error of its own kind, naming the host once
    assert (
        "   host02: config_error: ansible_user 'root' set on the host contradicts the "
        f"username '{LOGIN_USER}' of its credential 'Deploy' (console_credential); remove one"
    ) in done.stdout.splitlines()
    assert password not in done.stdout + done.stderr
    assert f"Accepted password for {LOGIN_USER}" in users_fleet.hosts[0].log.read_text()


def test_an_unknown_credential_fails_the_host_naming_it(users_fleet: Fleet, tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    env = environment(users_fleet, tmp_path)
    users_fleet.inventory(
        tmp_path / "inventory.yaml", host_vars={"host02": {"console_credential": "Nobody"}}
    )
    done = opsconsole(env, "exec", "fleet", "--", "true")
    assert done.returncode == 1
    assert "1 ok, 1 failed" in done.stdout
    assert (
        "   host02: config_error: console_credential names credential 'Nobody', but there "
        "is no such asset (see `opsconsole assets list`)"
    ) in done.stdout.splitlines()
    as_json = opsconsole(env, "exec", "fleet", "--json", "--", "true")
    assert as_json.returncode == 1
    failed = {r["host"]: r for r in json.loads(as_json.stdout) if r["status"] != "ok"}
    assert failed["host02"]["status"] == "config_error"
    assert failed["host02"]["error"]["kind"] == "config_error"
    assert failed["host02"]["error"]["message"].startswith("console_credential names")
