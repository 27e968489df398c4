"""Which hosts a configuration's mode applies to, checks, or leaves alone, and when."""

from __future__ import annotations

from pathlib import Path

from console.engine.state_schedule import _due
from console.inventory.model import Host
from console.state.model import Configuration, Mode, NodeStatus
from console.state.store import Summary

NOW = 1_800_000_000.0
HOSTS = [Host(name) for name in ("new", "fresh", "stale", "edited")]


def configuration(mode: Mode) -> Configuration:
    return Configuration("web", Path("web.yaml"), "all", mode, 900.0, digest="v2")


def summaries() -> dict[tuple[str, str], Summary]:
    """fresh: applied v2 a minute ago; stale: applied v2 an hour ago; edited: its last
    report and apply were of v1 a minute ago (the file changed since)."""
    return {
        ("fresh", "web"): Summary(NodeStatus.COMPLIANT, NOW - 60, 0, "j1", "v2", "v2"),
        ("stale", "web"): Summary(NodeStatus.COMPLIANT, NOW - 3600, 0, "j2", "v2", "v2"),
        ("edited", "web"): Summary(NodeStatus.COMPLIANT, NOW - 60, 0, "j3", "v1", "v1"),
    }


def names(hosts: list[Host]) -> list[str]:
    return [h.name for h in hosts]


def test_apply_and_monitor_applies_new_and_edited_then_checks_when_due() -> None:
    apply, check, next_due = _due(configuration(Mode.APPLY_AND_MONITOR), HOSTS, summaries(), NOW)
    assert names(apply) == ["new", "edited"]
    assert names(check) == ["stale"]
    assert next_due == NOW - 60 + 900  # fresh falls due next


def test_apply_only_applies_once_per_version_and_never_checks() -> None:
    apply, check, next_due = _due(configuration(Mode.APPLY_ONLY), HOSTS, summaries(), NOW)
    assert (names(apply), names(check)) == (["new", "edited"], [])
    assert next_due == NOW + 900  # nothing else ever falls due


def test_autocorrect_applies_whatever_is_due() -> None:
    apply, check, _ = _due(configuration(Mode.APPLY_AND_AUTOCORRECT), HOSTS, summaries(), NOW)
    assert (names(apply), names(check)) == (["new", "stale", "edited"], [])


def test_a_host_checked_but_never_applied_is_applied_under_monitor() -> None:
    checked_only = {("new", "web"): Summary(NodeStatus.NOT_COMPLIANT, NOW - 60, 2, "j", "v2", "")}
    apply, check, _ = _due(configuration(Mode.APPLY_AND_MONITOR), [Host("new")], checked_only, NOW)
    assert (names(apply), names(check)) == ([], [])  # not due for a frequency yet
    apply, _, _ = _due(
        configuration(Mode.APPLY_AND_MONITOR), [Host("new")], checked_only, NOW + 900
    )
    assert names(apply) == ["new"]
