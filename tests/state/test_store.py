"""StateStore on real files: latest reports, applied digests, summaries, history."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from console.state.model import NodeStatus, Report, ResourceResult, ResourceStatus
from console.state.store import StateStore

DAY = 86400.0
NOW = 1_800_000_000.0


def report(
    host: str,
    kind: str = "check",
    status: NodeStatus = NodeStatus.COMPLIANT,
    time: float = NOW,
    digest: str = "d1",
    configuration: str = "web",
) -> Report:
    drift = status is NodeStatus.NOT_COMPLIANT
    results = (
        ResourceResult(
            "file:/etc/motd",
            "file",
            ResourceStatus.DRIFTED if drift else ResourceStatus.COMPLIANT,
            {"content": "a"},
            {"content": "b"},
            "-b\n+a\n" if drift else "",
        ),
    )
    return Report(host, configuration, kind, status, time, results, job_id="j1", digest=digest)


def test_latest_reports_survive_a_reopen_with_their_summaries(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.record(report("web01", "apply"))
    store.record(report("web01", status=NodeStatus.NOT_COMPLIANT, time=NOW + 60))
    store.record(report("web02", configuration="db"))
    reopened = StateStore(tmp_path)
    latest = reopened.latest("web01", "web")
    assert latest is not None and latest.status is NodeStatus.NOT_COMPLIANT
    assert latest.resources[0].diff == "-b\n+a\n" and latest.drifted == 1
    summary = reopened.summaries()[("web01", "web")]
    assert (summary.status, summary.time, summary.drifted) == (
        NodeStatus.NOT_COMPLIANT,
        NOW + 60,
        1,
    )
    assert summary.applied == "d1"  # the apply before the check is remembered
    assert reopened.summaries()[("web02", "db")].applied == ""  # never applied
    assert [r.configuration for r in reopened.latest_for_host("web01")] == ["web"]
    assert reopened.latest("web03", "web") is None


def test_an_apply_that_never_reached_the_host_applied_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    unreachable = Report("web01", "web", "apply", NodeStatus.UNRESPONSIVE, NOW, digest="d2")
    store.record(unreachable)
    assert store.summaries()[("web01", "web")].applied == ""


def test_history_is_kept_and_retention_drops_the_old(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.record(report("web01", time=NOW - 40 * DAY))
    store.record(report("web01", status=NodeStatus.NOT_COMPLIANT, time=NOW - DAY))
    assert [e["status"] for e in store.history("web01")] == ["Compliant", "NotCompliant"]
    assert store.apply_retention(now=NOW) == 1
    assert [e["status"] for e in StateStore(tmp_path).history("web01", "web")] == ["NotCompliant"]
    assert store.latest("web01", "web") is not None  # the latest report stays


def test_a_damaged_report_file_is_set_aside_and_the_host_is_pending_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path)
    store.record(report("web01"))
    store.record(report("web02"))
    (tmp_path / "state" / "reports" / "web01.json").write_text('{"reports": {"web": {"host"')
    with caplog.at_level(logging.ERROR):
        reopened = StateStore(tmp_path)
    assert ("web01", "web") not in reopened.summaries()
    assert ("web02", "web") in reopened.summaries()
    assert (tmp_path / "state" / "reports" / "web01.json.damaged").exists()
    assert "does not decode" in caplog.text
    reopened.record(report("web01"))  # the next run is recorded as usual
    assert reopened.latest("web01", "web") is not None
