"""Runbooks that use assets, on the real fleet: a credential parameter logs into a real
service, a printed secret shows only as `***` wherever a job's output goes, declared
assets are read through each language's helper, and a bad asset name makes no job."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from console.jobs.model import JobStatus
from tests.certs import self_signed_cert
from tests.jobs.helpers import OPSCONSOLE, JobEnv, wait_finished

pytestmark = pytest.mark.timeout(240)

PASSWORD = "Pa55/w0rd+with spaces&é"
HOST = "host08"
PARAMS = ("-p", "login=db", "-p", "key=deploykey")

LEAK = """#!/bin/sh
# /// runbook
# [parameters.login]
# type = "credential"
# [parameters.key]
# type = "credential"
# [parameters.flag]
# type = "string"
# ///
pw="$OPS_PARAM_LOGIN_PASSWORD"
echo "user $OPS_PARAM_LOGIN_USERNAME"
echo "plain $pw"
echo "stderr $pw" >&2
echo "::warning::warn $pw"
echo "::verbose::verbose $pw"
printf 'base64 %s\\n' "$(printf '%s' "$pw" | base64 -w0)"
python3 -c 'import os, sys, json, urllib.parse as u, base64 as b
pw = os.environ["OPS_PARAM_LOGIN_PASSWORD"]
print("quote", u.quote(pw), "quote_plus", u.quote_plus(pw))
print("json", json.dumps({"pw": pw}))
print("urlsafe", b.urlsafe_b64encode(pw.encode()).decode().rstrip("="))'
printf '%s\\n' "$OPS_PARAM_KEY_PRIVATE_KEY"
echo ready
while [ ! -e "$OPS_PARAM_FLAG" ]; do sleep 0.1; done
echo "failing with $pw" >&2
exit 3
"""


def secret_forms(key: str) -> list[str]:
    raw = PASSWORD.encode()
    forms = [
        PASSWORD,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(PASSWORD),
        quote_plus(PASSWORD),
        json.dumps(PASSWORD)[1:-1],
    ]
    lines = [line for line in key.splitlines() if "-----" not in line]
    assert len(lines) >= 3
    return forms + lines


def wait_for(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def test_a_printed_secret_shows_only_as_stars_everywhere(
    job_env: JobEnv, tmp_path: Path
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    job_env.runbook("leak.sh", LEAK)
    async with job_env.engine() as engine:
        await engine.assets.set_credential("db", "dbuser", password=PASSWORD)
        await engine.assets.set_credential("deploykey", "deployer", private_key=key)
    forms = secret_forms(key)
    job_env.serve()
    flag = f"/tmp/opsconsole-leak-go-{tmp_path.name}"  # on the host
    live_path = tmp_path / "run-output.txt"
    with live_path.open("w") as live:
        run = subprocess.Popen(
            [str(OPSCONSOLE), "run", "leak", HOST, *PARAMS, "-p", f"flag={flag}"],
            env=job_env.env,
            stdout=live,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for(lambda: "ready" in live_path.read_text(), "the runbook to print its secrets")
        on_host = job_env.fleet.host(HOST).run("ps -eo args").stdout
        here = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert "leak" in on_host  # the run is there, and no secret in any argv
        assert not [form for form in forms if form in on_host + here]
        job_env.fleet.host(HOST).run(f"touch {flag}")
        assert run.wait(timeout=60) != 0
    finally:
        job_env.fleet.host(HOST).run(f"rm -f {flag}")
        if run.poll() is None:
            run.kill()
    live_output = live_path.read_text()
    assert "plain ***" in live_output and "user dbuser" in live_output
    assert "base64 ***" in live_output and 'json {"pw": "***"}' in live_output

    jobs = job_env.cli_json("jobs", "list")
    job_id = jobs[0]["id"]
    shown = job_env.cli("jobs", "show", job_id)
    shown_json = job_env.cli("jobs", "show", job_id, "--json")
    assert "stderr ***" in shown.stdout and "warn ***" in shown.stdout
    detail = json.loads(shown_json.stdout)
    assert detail["status"] == JobStatus.FAILED.value
    stored = b"".join(p.read_bytes() for p in job_env.settings.data_dir.rglob("*") if p.is_file())
    serve_logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    for place, text in [
        ("run's live output (the events stream)", live_output),
        ("jobs show", shown.stdout),
        ("jobs show --json", shown_json.stdout),
        ("serve's log", serve_logs),
        ("the data directory", stored.decode("utf-8", errors="replace")),
    ]:
        leaked = [form for form in forms if form in text]
        assert not leaked, f"{place} shows {leaked}"
    assert shown.stdout.count("***") >= 10


FETCH_PY = """# /// runbook
# [parameters.login]
# type = "credential"
# [parameters.url]
# type = "string"
# ///
import base64, sys, urllib.error, urllib.request
login = params["login"]
token = base64.b64encode((login.username + ":" + login.password).encode()).decode()
request = urllib.request.Request(params["url"], headers={"Authorization": "Basic " + token})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=30) as page:
        print(page.read().decode())
except urllib.error.HTTPError as exc:
    error("login refused: HTTP %d" % exc.code)
    sys.exit(1)
"""


@dataclass
class BasicAuthService:
    """A real HTTP service behind Basic auth; `attempts` lists (user, accepted)."""

    username: str
    password: str
    url: str = ""
    attempts: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, header: str) -> tuple[str, bool]:
        scheme, _, token = header.partition(" ")
        user, _, password = base64.b64decode(token or "").decode().partition(":")
        accepted = scheme == "Basic" and (user, password) == (self.username, self.password)
        self.attempts.append((user, accepted))
        return user, accepted


@contextmanager
def basic_auth_service(username: str, password: str) -> Iterator[BasicAuthService]:
    """Served on 127.0.0.1, which the fleet's hosts share with this process."""
    service = BasicAuthService(username, password)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            user, accepted = service.check(self.headers.get("Authorization", ""))
            body = f"welcome {user}, the page behind the login".encode()
            self.send_response(200 if accepted else 401)
            if not accepted:
                body = b"who are you?"
                self.send_header("WWW-Authenticate", 'Basic realm="vault"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}/page"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_credential_parameter_logs_into_a_real_service(job_env: JobEnv) -> None:
    """The runbook runs on a fleet host, takes the credential's username and password
    from its parameter and logs into an HTTP service with them: the right password
    gets the page, a wrong one a 401 that fails the job."""
    job_env.runbook("fetch.py", FETCH_PY)
    async with job_env.engine() as engine:
        await engine.assets.set_credential("db", "dbuser", password=PASSWORD)
        await engine.assets.set_credential("stale", "dbuser", password="an-old-password")
    with basic_auth_service("dbuser", PASSWORD) as service:
        url = f"url={service.url}"
        good = await job_env.acli("run", "fetch", HOST, "-p", "login=db", "-p", url)
        bad = await job_env.acli("run", "fetch", HOST, "-p", "login=stale", "-p", url)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "welcome dbuser, the page behind the login" in good.stdout
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "login refused: HTTP 401" in bad.stdout + bad.stderr
    assert service.attempts == [("dbuser", True), ("dbuser", False)]
    for done in (good, bad):
        assert PASSWORD not in done.stdout + done.stderr


CERTIFICATE_SH = """#!/bin/sh
# /// runbook
# [parameters.tls]
# type = "certificate"
# ///
echo "thumbprint $OPS_PARAM_TLS_THUMBPRINT"
python3 - <<'PY'
import hashlib, os, ssl, tempfile
cert, key = os.environ["OPS_PARAM_TLS_CERTIFICATE"], os.environ["OPS_PARAM_TLS_PRIVATE_KEY"]
der = ssl.PEM_cert_to_DER_cert(cert)
print("sha1 of the certificate", hashlib.sha1(der).hexdigest().upper())
with tempfile.TemporaryDirectory() as tmp:
    paths = [os.path.join(tmp, name) for name in ("cert.pem", "key.pem")]
    for path, text in zip(paths, (cert, key)):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(text)
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(*paths)
print("TLS accepts the key with the certificate")
PY
printf 'the key:\\n%s\\n' "$OPS_PARAM_TLS_PRIVATE_KEY"
"""


async def test_a_certificate_parameter_gives_the_pem_its_key_and_thumbprint(
    job_env: JobEnv, tmp_path: Path
) -> None:
    """On a fleet host the runbook gets the certificate, its thumbprint (the SHA-1 it
    recomputes itself) and the private key that TLS accepts with it; the key, printed,
    shows only as `***`."""
    cert_path, key_path = self_signed_cert(tmp_path)
    expected = x509.load_pem_x509_certificate(cert_path.read_bytes())
    thumbprint = expected.fingerprint(hashes.SHA1()).hex().upper()
    job_env.runbook("tls.sh", CERTIFICATE_SH)
    async with job_env.engine() as engine:
        await engine.assets.set_certificate("web-tls", cert_path.read_text() + key_path.read_text())
        job = await engine.start_job("tls", HOST, {"tls": "web-tls"})
        finished = await wait_finished(engine, job.id)
        output = [r.text for r in await engine.streams(job.id, stream="output")]
    assert finished.status is JobStatus.COMPLETED, output
    assert output[:3] == [
        f"thumbprint {thumbprint}",
        f"sha1 of the certificate {thumbprint}",
        "TLS accepts the key with the certificate",
    ]
    key_lines = [line for line in key_path.read_text().splitlines() if "-----" not in line]
    assert output[3] == "the key:"
    printed_key = [line for line in output[4:] if line]  # its trailing newline and printf's
    assert len(printed_key) == len(key_lines) + 2 and set(printed_key) == {"***"}, output
    stored = b"".join(p.read_bytes() for p in job_env.settings.data_dir.rglob("*") if p.is_file())
    assert not [line for line in key_lines if line.encode() in stored]


async def test_a_host_error_quoting_a_secret_is_masked(job_env: JobEnv) -> None:
    """exec has no parameters: a secret reaches a host error through the inventory (an
    address kept in an encrypted variable that was also typed into the inventory)."""
    secret_host = "no-such-host-7f3a9c.invalid"
    inventory = job_env.settings.data_dir.parent / "inventory.yaml"
    inventory.write_text(f"all:\n  hosts:\n    lost:\n      ansible_host: {secret_host}\n")
    job_env.env["OPSCONSOLE_INVENTORY"] = str(inventory)
    job_env.settings = type(job_env.settings)(
        inventory=inventory,
        data_dir=job_env.settings.data_dir,
        runbooks=job_env.settings.runbooks,
    )
    async with job_env.engine() as engine:
        await engine.assets.set_variable("lost-address", secret_host, encrypted=True)
        job = await engine.start_command("lost", "true")
        finished = await wait_finished(engine, job.id)
        error = finished.host_runs["lost"].error or ""
    assert finished.status is JobStatus.FAILED
    assert "***" in error and secret_host not in error
    exec_run = job_env.cli("exec", "lost", "true")
    assert exec_run.returncode != 0
    assert "***" in exec_run.stdout + exec_run.stderr
    assert secret_host not in exec_run.stdout + exec_run.stderr


DECLARED_SH = """#!/bin/sh
# /// runbook
# assets = ["api", "Threshold"]
# ///
echo "token-len $(ops_asset api token | wc -c)"
echo "endpoint $(ops_asset api endpoint)"
echo "threshold $(ops_asset threshold)"
ops_asset other 2>&1 || echo "refused $?"
"""

DECLARED_PY = """# /// runbook
# assets = ["api", "Threshold"]
# ///
api = get_asset("api")
print("endpoint", api["endpoint"], "token-len", len(api["token"]))
print("threshold", get_asset("threshold"))
try:
    get_asset("other")
except LookupError as exc:
    print("refused", exc)
"""


async def test_declared_assets_are_read_through_each_language_helper(job_env: JobEnv) -> None:
    job_env.runbook("declared.sh", DECLARED_SH)
    job_env.runbook("declared-py.py", DECLARED_PY)
    token = "tok-0123456789abcdef"
    async with job_env.engine() as engine:
        await engine.assets.set_connection(
            "api", {"endpoint": "https://api.example", "token": token}, secret=["token"]
        )
        await engine.assets.set_variable("threshold", 80)
        await engine.assets.set_variable("other", "not declared")
        jobs = [await engine.start_job(name, HOST, {}) for name in ("declared", "declared-py")]
        outputs = []
        for job in jobs:
            assert (await wait_finished(engine, job.id)).status is JobStatus.COMPLETED
            outputs.append([r.text for r in await engine.streams(job.id, stream="output")])
    shell, python = outputs
    assert shell[:3] == [
        f"token-len {len(token) + 1}",
        "endpoint https://api.example",
        "threshold 80",
    ]
    assert "does not declare the asset 'other'" in shell[3] and shell[4] == "refused 2"
    assert python[:2] == [f"endpoint https://api.example token-len {len(token)}", "threshold 80"]
    assert "does not declare the asset 'other'" in python[2]


async def test_a_bad_asset_name_or_kind_is_exit_2_and_no_job(job_env: JobEnv) -> None:
    job_env.runbook(
        "needs.sh",
        '#!/bin/sh\n# /// runbook\n# [parameters.login]\n# type = "credential"\n# ///\ntrue\n',
    )
    job_env.runbook("declares.sh", '#!/bin/sh\n# /// runbook\n# assets = ["missing"]\n# ///\n')
    async with job_env.engine() as engine:
        await engine.assets.set_variable("plain", "x")
    cases = [
        (["run", "needs", HOST, "-p", "login=nobody"], "'login'", "nobody"),
        (["run", "needs", HOST, "-p", "login=plain"], "'login'", "plain"),
        (["run", "declares", HOST], "declared asset 'missing'", "missing"),
    ]
    for args, what, asset in cases:
        done = await asyncio.to_thread(job_env.cli, *args)
        assert done.returncode == 2, done
        assert what in done.stderr and asset in done.stderr
    assert job_env.cli_json("jobs", "list") == []
