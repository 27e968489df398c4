"""What a runbook receives, through the real `opsconsole serve` and CLI.

Big inputs (issue 9, item 2): a webhook body of 70 KB or ~500 KiB, posted with a real
HTTP client, reaches a shell runbook on `localhost` and on a real SSH fleet host, and a
python runbook on the SSH host, complete (the runbook prints its sha256) through
`OPS_WEBHOOK_DATA_FILE`; a 200 KB string parameter given to `opsconsole run` reaches a
runbook on an SSH host. Before, every such run failed with "Argument list too long".

A clean environment (item 9): a job on `localhost` sees PATH, HOME, LANG, USER and its own
OPS_* variables, never the engine's `OPSCONSOLE_SECRET_KEY` or anything else from the
engine's environment; the data directory, control socket and key file are private, so
a runbook that drops to `nobody` can neither attach to the engine nor read the key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from tests.fleet import Fleet
from tests.serve.conftest import Site, runbook

pytestmark = pytest.mark.timeout(180)

WEBHOOK_SH = runbook(
    "reports how WebhookData arrived",
    """\
if [ -n "${OPS_WEBHOOK_DATA+set}" ]; then echo "in_env=yes"; else echo "in_env=no"; fi
echo "file=$OPS_WEBHOOK_DATA_FILE"
echo "in_workdir=$([ "$(dirname "$OPS_WEBHOOK_DATA_FILE")" = "$OPS_WORKDIR" ] && echo yes)"
echo "mode=$(stat -c %a "$OPS_WEBHOOK_DATA_FILE")"
/usr/bin/python3 -c '
import hashlib, json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
print("sha256=" + hashlib.sha256(data["RequestBody"].encode()).hexdigest())
' "$OPS_WEBHOOK_DATA_FILE"
if [ -n "${OPS_WEBHOOK_DATA+set}" ]; then
    printf "%s" "$OPS_WEBHOOK_DATA" | cmp -s - "$OPS_WEBHOOK_DATA_FILE" \\
        && echo "env_equals_file=yes"
fi""",
)

WEBHOOK_PY = """\
#!/usr/bin/env python3
# /// runbook
# description = "reports WebhookData as python runbooks get it"
# ///
import hashlib
print("sha256=" + hashlib.sha256(webhook_data["RequestBody"].encode()).hexdigest())
"""

PARAM_SH = runbook(
    "reports a big parameter",
    """\
if [ -n "${OPS_PARAM_NOTE+set}" ]; then echo "in_env=yes"; else echo "in_env=no"; fi
echo "mode=$(stat -c %a "$OPS_PARAM_NOTE_FILE")"
echo "sha256=$(sha256sum < "$OPS_PARAM_NOTE_FILE" | cut -d' ' -f1)"
""",
    "# [parameters.note]\n# required = true\n",
)

PARAM_PY = """\
#!/usr/bin/env python3
# /// runbook
# description = "reports a big parameter as python runbooks get it"
# [parameters.note]
# required = true
# ///
import hashlib
print("sha256=" + hashlib.sha256(params["note"].encode()).hexdigest())
"""


class FleetSite(Site):
    """A `serve` site whose inventory has `localhost` and the session fleet's hosts."""

    fleet: Fleet

    @property
    def env(self) -> dict[str, str]:
        env = {**super().env, "HOME": str(self.fleet.home)}
        env.pop("SSH_AUTH_SOCK", None)
        return env


@pytest.fixture
def fleet_site(fleet: Fleet, tmp_path: Path) -> Iterator[FleetSite]:
    made = FleetSite(tmp_path)
    made.fleet = fleet
    fleet.inventory(made.inventory, extra_hosts={"localhost": {"ansible_connection": "local"}})
    try:
        yield made
    finally:
        made.close()


def big_json_body(size: int) -> bytes:
    """A JSON object of about `size` bytes whose text needs escaping in every form a
    shell or JSON could trip on (quotes, backslashes, `$( )`, newlines, non-ASCII)."""
    tricky = 'é "quoted" \\ $(touch /tmp/pwned) `id` \' \n\t ✓ '
    records: list[dict[str, Any]] = []
    body = b""
    while len(body) < size:
        records.append({"id": len(records), "text": tricky + secrets.token_hex(40)})
        if len(records) % 50 == 0:
            body = json.dumps({"records": records}).encode()
    return json.dumps({"records": records}).encode()


def lines_by_host(job: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`key=value` output lines of each host run, by host."""
    found: dict[str, dict[str, str]] = {}
    for record in job["streams"]:
        key, sep, value = record["text"].partition("=")
        if sep and record["stream"] == "output":
            found.setdefault(record["host"], {})[key] = value
    return found


async def post(url: str, body: bytes) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        assert response.status == 202, await response.text()
        return dict(await response.json())


@pytest.mark.parametrize("size", [1_000, 70_000, 500 * 1024])
async def test_webhook_body_of_any_accepted_size_reaches_local_and_ssh_runbooks(
    fleet_site: FleetSite, size: int
) -> None:
    ssh_host = fleet_site.fleet.hosts[0].name
    fleet_site.add_runbook("hook-sh.sh", WEBHOOK_SH)
    fleet_site.add_runbook("hook-py.py", WEBHOOK_PY)
    fleet_site.serve()
    sh_url = fleet_site.cli("webhooks", "create", "sh", "hook-sh", f"localhost,{ssh_host}")
    py_url = fleet_site.cli("webhooks", "create", "py", "hook-py", ssh_host)
    body = big_json_body(size)
    expected = hashlib.sha256(body).hexdigest()

    sh_ids = (await post(sh_url.stdout.strip(), body))["JobIds"]
    py_ids = (await post(py_url.stdout.strip(), body))["JobIds"]

    sh_job = fleet_site.wait_job(sh_ids[0], timeout=90)
    assert sh_job["status"] == "Completed", sh_job
    reports = lines_by_host(sh_job)
    assert set(reports) == {"localhost", ssh_host}
    small = size < 32 * 1024
    for host, report in reports.items():
        assert report["sha256"] == expected, (host, report)
        assert report["in_workdir"] == "yes" and report["mode"] == "600", (host, report)
        assert report["in_env"] == ("yes" if small else "no"), (host, report)
        assert report.get("env_equals_file") == ("yes" if small else None), (host, report)
    # the file went with the workdir
    assert not Path(reports["localhost"]["file"]).exists()
    gone = fleet_site.fleet.host(ssh_host).run(f"test -e {reports[ssh_host]['file']}")
    assert gone.returncode == 1

    py_job = fleet_site.wait_job(py_ids[0], timeout=90)
    assert py_job["status"] == "Completed", py_job
    assert lines_by_host(py_job)[ssh_host]["sha256"] == expected


async def test_run_with_a_200_kb_parameter_on_an_ssh_host(
    fleet_site: FleetSite, tmp_path: Path
) -> None:
    ssh_host = fleet_site.fleet.hosts[1].name
    fleet_site.add_runbook("note-sh.sh", PARAM_SH)
    fleet_site.add_runbook("note-py.py", PARAM_PY)
    note = ("line with 'quotes' and $(id) é\n" + secrets.token_hex(64) + "\n") * 1_300
    assert len(note.encode()) > 200_000
    note_file = tmp_path / "note.txt"
    note_file.write_bytes(note.encode())
    expected = hashlib.sha256(note.encode()).hexdigest()

    for book in ("note-sh", "note-py"):
        done = fleet_site.cli(
            "run", book, ssh_host, "--param-file", f"note={note_file}", "--json", timeout=90
        )
        job = json.loads(done.stdout)
        assert job["status"] == "Completed", job
        report = lines_by_host(job)[ssh_host]
        assert report["sha256"] == expected, (book, report)
        if book == "note-sh":
            assert report["in_env"] == "no" and report["mode"] == "600"


ENV_SH = runbook("prints its environment", "env")


def test_local_job_gets_a_clean_environment_without_the_engines_secrets(
    fleet_site: FleetSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("OPSCONSOLE_SECRET_KEY", key)
    monkeypatch.setenv("ENGINE_ONLY_TOKEN", "engine-private-value")
    monkeypatch.setenv("LANG", "C.UTF-8")
    fleet_site.add_runbook("env.sh", ENV_SH)
    fleet_site.serve()
    done = fleet_site.cli("run", "env", "localhost", "--json")
    job = json.loads(done.stdout)
    assert job["status"] == "Completed", job
    env = dict(r["text"].partition("=")[::2] for r in job["streams"] if "=" in r["text"])
    assert key not in json.dumps(job) and "engine-private-value" not in json.dumps(job)
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME"}
    allowed |= {"PWD", "OLDPWD", "SHLVL", "_"}  # set by the shell itself
    allowed |= {"OPSCONSOLE_DATA_DIR", "OPSCONSOLE_INVENTORY", "OPSCONSOLE_RUNBOOKS"}
    extra = {name for name in env if name not in allowed and not name.startswith("OPS_")}
    assert extra == set(), extra
    assert env["HOME"] == str(fleet_site.fleet.home) and env["LANG"] == "C.UTF-8"
    assert env["OPS_JOB_ID"] == job["id"]


NOBODY_SH = runbook(
    "tries the engine's socket and key as nobody",
    """\
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_nobody /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("socket=connected")
except OSError as exc:
    print("socket=" + type(exc).__name__)
' "$OPSCONSOLE_DATA_DIR/control.sock"
if as_nobody cat "$OPSCONSOLE_DATA_DIR/secret.key" >/dev/null 2>&1
then echo "key=read"; else echo "key=refused"; fi
""",
)


@pytest.fixture
def open_root() -> Iterator[Path]:
    """A site root every user may traverse, so only the data directory's own modes
    stand between `nobody` and the engine (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="opsconsole-open-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_data_dir_socket_and_key_are_private_to_the_engines_user(open_root: Path) -> None:
    site = Site(open_root)
    try:
        site.add_runbook("nobody.sh", NOBODY_SH)
        site.serve()
        site.cli("webhooks", "create", "k", "nobody", "localhost")  # the key exists now
        data = site.data_dir
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in (data, data / "control.sock", data / "secret.key")
        }
        assert modes == {"data": 0o700, "control.sock": 0o600, "secret.key": 0o600}
        for traversable in (False, True):
            # also with the directory opened up: the socket's and key's own modes hold
            data.chmod(0o711 if traversable else 0o700)
            job = json.loads(site.cli("run", "nobody", "localhost", "--json").stdout)
            report = lines_by_host(job)["localhost"]
            assert report == {"socket": "PermissionError", "key": "refused"}, traversable
    finally:
        site.close()
