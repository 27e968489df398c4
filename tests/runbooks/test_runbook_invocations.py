"""Invocations per language, and real local runs of shell and python runbooks.

The runs use `sh -c` on this machine exactly as the runner uses a host's shell, with
every parameter type and values that would run commands if they were ever pasted into
a command line; marker files prove they never are.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from console.errors import UsageError
from console.runbooks.catalog import RunbookCatalog
from console.runbooks.languages import LanguageRegistry
from console.runbooks.parameters import parse_values
from console.runbooks.plugin_api import Runbook, TargetInfo
from tests.runbooks.conftest import LocalRun, RunInvocation

PARAMS_BLOCK = """\
# /// runbook
# description = "prints every parameter it gets"
# [parameters.text]
# required = true
# [parameters.count]
# type = "int"
# [parameters.ratio]
# type = "float"
# default = 0.5
# [parameters.flag]
# type = "bool"
# default = false
# [parameters.mode]
# type = "choice"
# choices = ["safe", "'; touch MARK5; '"]
# default = "safe"
# [parameters.items]
# type = "list"
# [parameters.blob]
# type = "json"
# ///
"""

SHELL_BODY = """\
printf 'text=%s\\n' "$OPS_PARAM_TEXT"
printf 'count=%s\\n' "$OPS_PARAM_COUNT"
printf 'ratio=%s\\n' "$OPS_PARAM_RATIO"
printf 'flag=%s\\n' "$OPS_PARAM_FLAG"
printf 'mode=%s\\n' "$OPS_PARAM_MODE"
printf 'items=%s\\n' "$OPS_PARAM_ITEMS"
while IFS= read -r item; do printf 'item=%s\\n' "$item"; done <<LIST
$OPS_PARAM_ITEMS_LINES
LIST
printf 'blob=%s\\n' "$OPS_PARAM_BLOB"
printf 'webhook=%s\\n' "$OPS_WEBHOOK_DATA"
printf 'runbook=%s\\n' "$OPS_RUNBOOK"
printf 'cwd=%s\\n' "$(pwd)"
printf '::verbose::done\\n'
"""

PYTHON_BODY = """\
import json
import os
import sys

import opsconsole_runbook

assert opsconsole_runbook.params is params  # the import and the globals are one object
print(json.dumps({
    "params": params,
    "types": {name: type(value).__name__ for name, value in params.items()},
    "webhook": webhook_data,
    "env": {k: v for k, v in os.environ.items() if k.startswith("OPS_PARAM_")},
    "argv0": os.path.basename(sys.argv[0]),
    "name": __name__,
}))
warning("low disk")
verbose("step 1")
progress("copying", 40)
debug("x=1")
error("recoverable")
output("two\\nlines")
"""


def markers(folder: Path) -> dict[str, Path]:
    return {f"MARK{n}": folder / f"pwned{n}" for n in range(1, 7)}


def nothing_was_run(tmp_path: Path) -> list[str]:
    """Marker files that exist (each hostile value creates one if it is ever evaluated)."""
    return sorted(path.name for path in tmp_path.glob("pwned*"))


def hostile_values(mark: dict[str, Path]) -> dict[str, str]:
    """Raw text as a user would type it; each one runs `touch` if ever evaluated."""
    return {
        "text": f'"; touch {mark["MARK1"]} #',
        "count": "7",
        "flag": "yes",
        "items": f"$(touch {mark['MARK2']}), `touch {mark['MARK3']}`, plain",
        "blob": json.dumps({"cmd": f"$(touch {mark['MARK4']})", "n": [1, 2]}),
    }


def catalog_with(folder: Path, name: str, text: str) -> tuple[RunbookCatalog, Runbook]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    catalog = RunbookCatalog(folder, LanguageRegistry())
    return catalog, catalog.get(name.split(".")[0])


def run_with(
    tmp_path: Path,
    run_invocation: RunInvocation,
    file_name: str,
    text: str,
    raw: dict[str, str],
    webhook: dict[str, Any] | None,
) -> tuple[LocalRun, Any]:
    catalog, runbook = catalog_with(tmp_path / "books", file_name, text)
    values = parse_values(runbook.metadata.parameters, raw, runbook.name)
    # A workdir whose own name would run a command if it were not quoted.
    workdir = tmp_path / f"work dir $(touch {tmp_path / 'pwned7'})"
    invocation = catalog.build_invocation(
        runbook, values, TargetInfo(transport="local"), str(workdir), webhook
    )
    for value in (raw["text"], raw["items"], raw["blob"], json.dumps(webhook)):
        assert value not in invocation.command
    return run_invocation(invocation, workdir), invocation


def test_shell_runbook_gets_every_type_literally_and_nothing_is_injected(
    tmp_path: Path, run_invocation: RunInvocation
) -> None:
    mark = markers(tmp_path)
    block = PARAMS_BLOCK.replace("MARK5", str(tmp_path / "pwned5"))
    raw = {**hostile_values(mark), "mode": f"'; touch {tmp_path / 'pwned5'}; '"}
    webhook = {"RequestBody": f"$(touch {mark['MARK1']})", "RequestHeader": {"X": "`id`"}}

    run, _ = run_with(tmp_path, run_invocation, "params.sh", block + SHELL_BODY, raw, webhook)

    assert run.code == 0, run.records
    assert run.stream("error") == []
    output = run.stream("output")
    lines = dict(line.split("=", 1) for line in output if not line.startswith("item="))
    assert lines["text"] == raw["text"]
    assert (lines["count"], lines["ratio"], lines["flag"]) == ("7", "0.5", "true")
    assert lines["mode"] == raw["mode"]
    items = [f"$(touch {mark['MARK2']})", f"`touch {mark['MARK3']}`", "plain"]
    assert json.loads(lines["items"]) == items
    assert [line[5:] for line in output if line.startswith("item=")] == items
    assert json.loads(lines["blob"]) == json.loads(raw["blob"])
    assert json.loads(lines["webhook"]) == webhook
    assert lines["runbook"] == "params"
    assert lines["cwd"] == str(run.workdir)
    assert run.stream("verbose") == ["done"]
    assert nothing_was_run(tmp_path) == []


def test_python_runbook_gets_a_typed_params_dict_and_stream_helpers(
    tmp_path: Path, run_invocation: RunInvocation
) -> None:
    mark = markers(tmp_path)
    block = PARAMS_BLOCK.replace("MARK5", str(tmp_path / "pwned5"))
    raw = hostile_values(mark)
    webhook = {"WebhookName": "deploy", "RequestBody": f'"; touch {mark["MARK1"]} #'}

    run, invocation = run_with(
        tmp_path, run_invocation, "params.py", block + PYTHON_BODY, raw, webhook
    )

    assert run.code == 0, run.records
    report = json.loads(run.stream("output")[0])
    assert report["params"] == {
        "text": raw["text"],
        "count": 7,
        "ratio": 0.5,
        "flag": True,
        "mode": "safe",
        "items": [f"$(touch {mark['MARK2']})", f"`touch {mark['MARK3']}`", "plain"],
        "blob": json.loads(raw["blob"]),
    }
    assert report["types"] == {
        "text": "str", "count": "int", "ratio": "float", "flag": "bool",
        "mode": "str", "items": "list", "blob": "dict",
    }  # fmt: skip
    assert report["webhook"] == webhook
    assert report["env"]["OPS_PARAM_FLAG"] == "true"
    assert report["env"]["OPS_PARAM_TEXT"] == raw["text"]
    assert (report["argv0"], report["name"]) == ("params.py", "__main__")
    assert run.stream("output")[1:] == ["two", "lines"]
    assert run.stream("warning") == ["low disk"]
    assert run.stream("verbose") == ["step 1"]
    assert run.stream("progress") == ["copying (40%)"]
    assert run.stream("debug") == ["x=1"]
    assert run.stream("error") == ["recoverable"]
    assert set(invocation.files) == {"params.py", "opsconsole_runbook.py", "opsconsole_params.json"}
    assert nothing_was_run(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "code", "error_part"),
    [
        ("raise SystemExit(3)\n", 3, None),
        ("print('before')\nraise RuntimeError('no route to db')\n", 1, "no route to db"),
    ],
)
def test_python_exit_status_and_tracebacks_reach_the_job(
    tmp_path: Path, run_invocation: RunInvocation, body: str, code: int, error_part: str | None
) -> None:
    catalog, runbook = catalog_with(tmp_path / "books", "fails.py", body)
    workdir = tmp_path / "work"
    invocation = catalog.build_invocation(runbook, {}, TargetInfo(), str(workdir), None)
    run = run_invocation(invocation, workdir)
    assert run.code == code
    if error_part:
        assert run.stream("output") == ["before"]
        assert run.stream("error")[-1] == f"RuntimeError: {error_part}"


@pytest.mark.parametrize(
    ("shebang", "interpreter"),
    [
        ("", "sh"),
        ("#!/bin/sh\n", "sh"),
        ("#!/bin/bash\n", "bash"),
        ("#!/usr/bin/env bash\n", "bash"),
        ("#!/bin/sh -eu\n", "sh -eu"),
        ("#!/bin/bash -e -o pipefail\n", "bash -e -o pipefail"),
        ("#!/bin/bash -eo\n", "bash"),
        ("#!/bin/sh -e --posix\n", "sh -e"),
    ],
)
def test_shell_interpreter_follows_the_shebang(
    tmp_path: Path, shebang: str, interpreter: str
) -> None:
    catalog, runbook = catalog_with(tmp_path, "job.sh", shebang + "echo hi\n")
    invocation = catalog.build_invocation(runbook, {}, TargetInfo(), "/tmp/ops x", None)
    assert invocation.command == f"cd '/tmp/ops x' && exec {interpreter} '/tmp/ops x/job.sh'"
    assert invocation.files == {"job.sh": runbook.content}
    assert invocation.env["OPS_WORKDIR"] == "/tmp/ops x"


def test_bash_runbook_really_runs_under_bash(tmp_path: Path, run_invocation: RunInvocation) -> None:
    script = '#!/bin/bash\nx=(a b c)\necho "${#x[@]} $BASH_VERSION"\n'
    catalog, runbook = catalog_with(tmp_path / "books", "b.sh", script)
    invocation = catalog.build_invocation(runbook, {}, TargetInfo(), str(tmp_path / "w"), None)
    run = run_invocation(invocation, tmp_path / "w")
    assert run.code == 0 and run.stream("output")[0].startswith("3 ")


def test_a_file_name_is_made_safe_for_the_host(tmp_path: Path) -> None:
    catalog, runbook = catalog_with(tmp_path, "odd name$(x).sh", "echo\n")
    invocation = catalog.build_invocation(runbook, {}, TargetInfo(), "/w", None)
    assert list(invocation.files) == ["odd_name__x_.sh"]
    assert "$(x)" not in invocation.command


def test_shell_refuses_windows_and_python_adapts_to_it(tmp_path: Path) -> None:
    windows = TargetInfo(os_family="windows", transport="winrm")
    catalog, shell = catalog_with(tmp_path, "s.sh", "echo\n")
    with pytest.raises(UsageError, match="shell runbook; it runs on Linux and Unix"):
        catalog.build_invocation(shell, {}, windows, "C:\\Temp\\ops1", None)
    _, python = catalog_with(tmp_path, "p.py", "print(1)\n")
    invocation = catalog.build_invocation(python, {}, windows, "C:\\Temp\\ops1", None)
    assert invocation.command == (
        'python "C:\\Temp\\ops1\\opsconsole_runbook.py" "C:\\Temp\\ops1\\p.py"'
    )


PS_RUNBOOK = (
    PARAMS_BLOCK.replace("MARK5", "x")
    + """\
param([string]$text, [int]$count, $WebhookData)
Write-Output "text=$text count=$count"
Write-Warning "careful"
"""
)


def test_powershell_invocation_without_pwsh_installed(tmp_path: Path) -> None:
    """pwsh is not installed on this machine, so this checks what would be run, not a run."""
    catalog, runbook = catalog_with(tmp_path / "books", "Patch-Server.ps1", PS_RUNBOOK)
    raw = hostile_values(markers(tmp_path))
    values = parse_values(runbook.metadata.parameters, raw, runbook.name)
    webhook = {"RequestBody": "{}"}

    linux = catalog.build_invocation(runbook, values, TargetInfo(), "/tmp/ops.ab12", webhook)
    assert shlex.split(linux.command) == [
        "cd", "/tmp/ops.ab12", "&&", "exec", "pwsh", "-NoLogo", "-NoProfile", "-NonInteractive",
        "-File", "/tmp/ops.ab12/opsconsole_runbook.ps1", "/tmp/ops.ab12/Patch-Server.ps1",
    ]  # fmt: skip
    assert set(linux.files) == {
        "Patch-Server.ps1",
        "opsconsole_runbook.ps1",
        "opsconsole_params.json",
    }
    params_file = json.loads(linux.files["opsconsole_params.json"])
    assert params_file == {"params": values, "webhook_data": webhook}
    wrapper = linux.files["opsconsole_runbook.ps1"].decode()
    assert "ConvertFrom-Json -AsHashtable" in wrapper
    for name in ("Write-Warning", "Write-Verbose", "Write-Debug", "Write-Progress"):
        assert f"function {name}" in wrapper
    assert "'::warning::'" in wrapper and "& $RunbookPath @bound" in wrapper
    assert linux.env["OPS_PARAM_TEXT"] == raw["text"]
    assert linux.env["OPS_WEBHOOK_DATA"] == '{"RequestBody":"{}"}'
    assert raw["text"] not in linux.command

    windows = catalog.build_invocation(
        runbook, values, TargetInfo("windows", "winrm"), "C:\\Windows\\Temp\\ops.ab12", None
    )
    assert windows.command == (
        "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "
        '"C:\\Windows\\Temp\\ops.ab12\\opsconsole_runbook.ps1" '
        '"C:\\Windows\\Temp\\ops.ab12\\Patch-Server.ps1"'
    )
    assert "OPS_WEBHOOK_DATA" not in windows.env
    no_webhook = json.dumps({"params": values, "webhook_data": None}).encode()
    assert windows.files == {**linux.files, "opsconsole_params.json": no_webhook}
