"""A runbook run whose credential cannot be decrypted (OPSCONSOLE_SECRET_KEY is not the
key the assets were written with) is refused before it becomes a job: exit 2, a message
naming the variable, and nothing in the job list."""

from __future__ import annotations

import subprocess

from cryptography.fernet import Fernet

from tests.assets.conftest import RunAssets
from tests.serve.conftest import OPSCONSOLE, Site

RUNBOOK = """\
#!/bin/sh
# /// runbook
# [parameters.login]
# type = "credential"
# ///
echo "logged in as $OPS_PARAM_LOGIN_USERNAME"
"""


def opsconsole(site: Site, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**site.env, "OPSCONSOLE_SECRET_KEY": key}
    return subprocess.run(
        [str(OPSCONSOLE), *args], env=env, text=True, capture_output=True, timeout=60
    )


def test_a_wrong_secret_key_is_exit_2_and_no_job(site: Site, assets: RunAssets) -> None:
    site.add_runbook("login.sh", RUNBOOK)
    right = Fernet.generate_key().decode()
    made = assets(
        "set-credential",
        "ops",
        "--username",
        "admin",
        "--password-stdin",
        stdin="pa55word-ok\n",
        env={"OPSCONSOLE_SECRET_KEY": right},
    )
    assert made.returncode == 0, made.stderr

    wrong = Fernet.generate_key().decode()
    run = opsconsole(site, wrong, "run", "login", "localhost", "-p", "login=ops")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "OPSCONSOLE_SECRET_KEY" in run.stderr
    assert wrong not in run.stderr and right not in run.stderr

    listed = opsconsole(site, right, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"

    good = opsconsole(site, right, "run", "login", "localhost", "-p", "login=ops")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "logged in as admin" in good.stdout
