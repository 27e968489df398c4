"""Every parameter type end to end on a fleet host, and injection attempts that fail."""

from __future__ import annotations

import json

import pytest

from console.jobs.model import JobStatus
from tests.jobs.helpers import JobEnv, wait_finished

pytestmark = pytest.mark.timeout(180)

DECLARATIONS = """# /// runbook
# [parameters.note]
# type = "string"
# [parameters.count]
# type = "int"
# [parameters.ratio]
# type = "float"
# [parameters.force]
# type = "bool"
# [parameters.mode]
# type = "choice"
# choices = ["fast", "slow"]
# [parameters.files]
# type = "list"
# [parameters.extra]
# type = "json"
# [parameters.login]
# type = "credential"
# ///
"""

SHELL = (
    "#!/bin/sh\n"
    + DECLARATIONS
    + """\
for name in NOTE COUNT RATIO FORCE MODE FILES FILES_LINES EXTRA LOGIN; do
    eval "value=\\$OPS_PARAM_$name"
    printf '%s=%s\\n' "$name" "$value"
done
"""
)

PYTHON = (
    DECLARATIONS
    + """\
import json
from opsconsole_runbook import params
print(json.dumps({k: [getattr(v, "username", v), type(v).__name__] for k, v in params.items()}))
"""
)

RAW = {
    "note": "hello there",
    "count": "42",
    "ratio": "0.75",
    "force": "yes",
    "mode": "slow",
    "files": "/var/log/a, /var/log/b",
    "extra": '{"a": [1, 2]}',
    "login": "deploy",
}

INJECTIONS = [
    '"; touch /tmp/pwned #',
    "$(touch /tmp/pwned2)",
    "`touch /tmp/pwned3`",
    "'; touch /tmp/pwned4; '",
]


async def test_every_type_reaches_shell_and_python_typed(job_env: JobEnv) -> None:
    job_env.runbook("types.sh", SHELL)
    job_env.runbook("types-py.py", PYTHON)
    async with job_env.engine() as engine:
        await engine.assets.set_credential("deploy", "deployer", password="deploy-pass-1")
        shell = await engine.start_job("types", "host06", RAW)
        python = await engine.start_job("types-py", "host06", RAW)
        assert (await wait_finished(engine, shell.id)).status is JobStatus.COMPLETED
        assert (await wait_finished(engine, python.id)).status is JobStatus.COMPLETED
        shell_lines = [r.text for r in await engine.streams(shell.id, stream="output")]
        python_lines = [r.text for r in await engine.streams(python.id, stream="output")]
    assert shell_lines == [
        "NOTE=hello there",
        "COUNT=42",
        "RATIO=0.75",
        "FORCE=true",
        "MODE=slow",
        'FILES=["/var/log/a","/var/log/b"]',
        "FILES_LINES=/var/log/a",
        "/var/log/b",
        'EXTRA={"a":[1,2]}',
        "LOGIN=deploy",
    ]
    assert json.loads(python_lines[0]) == {
        "note": ["hello there", "str"],
        "count": [42, "int"],
        "ratio": [0.75, "float"],
        "force": [True, "bool"],
        "mode": ["slow", "str"],
        "files": [["/var/log/a", "/var/log/b"], "list"],
        "extra": [{"a": [1, 2]}, "dict"],
        "login": ["deployer", "Asset"],  # the credential, as an object
    }


async def test_injection_attempts_print_literally_and_run_nothing(job_env: JobEnv) -> None:
    job_env.runbook(
        "echo.sh",
        """#!/bin/sh
# /// runbook
# [parameters.text]
# type = "string"
# ///
printf 'got %s\\n' "$OPS_PARAM_TEXT"
""",
    )
    job_env.runbook(
        "echo-py.py",
        """# /// runbook
# [parameters.text]
# type = "string"
# ///
print("got " + params["text"])
""",
    )
    host = job_env.fleet.host("host07")
    async with job_env.engine() as engine:
        jobs = [
            await engine.start_job(book, "host07", {"text": attempt})
            for attempt in INJECTIONS
            for book in ("echo", "echo-py")
        ]
        for job, attempt in zip(jobs, [a for a in INJECTIONS for _ in (1, 2)], strict=True):
            assert (await wait_finished(engine, job.id)).status is JobStatus.COMPLETED
            lines = [r.text for r in await engine.streams(job.id)]
            assert lines == [f"got {attempt}"]
    listing = host.run("ls /tmp/pwned* 2>&1; ls / | grep -c pwned")
    assert "No such file" in listing.stdout
    assert listing.stdout.strip().endswith("0")
