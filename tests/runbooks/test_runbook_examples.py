"""The runbooks shipped in runbooks/ really run (locally, as the runner would run them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from console.runbooks.catalog import RunbookCatalog
from console.runbooks.languages import LanguageRegistry
from console.runbooks.parameters import parse_values
from console.runbooks.plugin_api import TargetInfo
from tests.runbooks.conftest import LocalRun, run_locally

SHIPPED = Path(__file__).resolve().parents[2] / "runbooks"


def run_example(name: str, raw: dict[str, str], workdir: Path) -> LocalRun:
    catalog = RunbookCatalog(SHIPPED, LanguageRegistry())
    runbook = catalog.get(name)
    values = parse_values(runbook.metadata.parameters, raw, name)
    invocation = catalog.build_invocation(
        runbook, values, TargetInfo(transport="local"), str(workdir), None
    )
    return run_locally(invocation, workdir)


def test_disk_usage_warns_for_filesystems_over_the_threshold(tmp_path: Path) -> None:
    run = run_example("disk-usage", {"threshold": "1"}, tmp_path / "w")
    assert run.code == 0, run.records
    assert any(line.split()[1] == "/" for line in run.stream("output")), "root is listed"
    assert any(
        w.startswith("/ is ") and w.endswith("% full (threshold 1%)") for w in run.stream("warning")
    )

    quiet = run_example("disk-usage", {"threshold": "100", "fail_when_over": "yes"}, tmp_path / "q")
    assert quiet.stream("warning") == [] and quiet.code == 0

    failing = run_example("disk-usage", {"threshold": "1", "fail_when_over": "yes"}, tmp_path / "f")
    assert failing.code == 1


def test_collect_logs_tails_files_and_warns_about_missing_ones(tmp_path: Path) -> None:
    log = tmp_path / "app log.txt"
    log.write_text("".join(f"line {n} {'ERROR' if n % 2 else 'ok'}\n" for n in range(1, 11)))
    files = json.dumps([str(log), str(tmp_path / "missing.log")])

    run = run_example("collect-logs", {"files": files, "lines": "3"}, tmp_path / "w")
    assert run.code == 0, run.records
    assert run.stream("output") == [
        f"==> {log} <==", "line 8 ok", "line 9 ERROR", "line 10 ok"]  # fmt: skip
    assert run.stream("warning") == [f"{tmp_path / 'missing.log'}: no such file"]

    filtered = run_example(
        "collect-logs", {"files": str(log), "lines": "4", "contains": "ERROR"}, tmp_path / "f"
    )
    assert filtered.stream("output") == [f"==> {log} <==", "line 7 ERROR", "line 9 ERROR"]

    nothing = run_example("collect-logs", {"files": str(tmp_path / "nope")}, tmp_path / "n")
    assert nothing.code == 1 and nothing.stream("error") == ["none of the files could be read"]


def test_restart_service_refuses_a_name_that_is_a_path(tmp_path: Path) -> None:
    run = run_example("restart-service", {"service": "../../bin/sh"}, tmp_path / "w")
    assert run.code == 2
    assert run.stream("error") == ["not a service name: ../../bin/sh"]


def test_restart_service_uses_sysv_service_without_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test hosts run no systemd init: the runbook must fall back to `service`."""
    assert not Path("/run/systemd/system").is_dir(), "this test assumes no running systemd"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "service"
    fake.write_text('#!/bin/sh\necho "service called with: $*"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    run = run_example("restart-service", {"service": "cron", "action": "reload"}, tmp_path / "w")

    assert run.code == 0, run.records
    assert run.stream("verbose") == ["using SysV service"]
    assert run.stream("output") == ["service called with: cron reload"]


def test_system_facts_prints_json_for_the_chosen_sections(tmp_path: Path) -> None:
    run = run_example(
        "system-facts", {"sections": "os,memory,bogus", "pretty": "false"}, tmp_path / "w"
    )
    assert run.code == 0, run.records
    facts = json.loads(run.stream("output")[0])
    assert set(facts) == {"os", "memory"}
    assert facts["os"]["hostname"] == os.uname().nodename
    assert facts["memory"]["MemTotal_mib"] > 0
    assert run.stream("verbose") == ["collecting os", "collecting memory"]
    assert run.stream("warning") == [
        "unknown section 'bogus'; known: os, cpu, memory, disk, uptime"
    ]
