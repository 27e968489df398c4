"""The Drift pane's rows: one per (host, configuration), how a row reads, which rows a
filter keeps and in which order they are listed.

Plain functions over `NodeState`, kept apart from the widget so that filtering and
sorting 10,000 rows is a list comprehension and a sort, nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from console.state.model import NodeState, NodeStatus

# Worst first: what needs a person's attention comes to the top when sorted by status.
SEVERITY = {
    NodeStatus.FAILED: 0,
    NodeStatus.UNRESPONSIVE: 1,
    NodeStatus.NOT_COMPLIANT: 2,
    NodeStatus.PENDING: 3,
    NodeStatus.COMPLIANT: 4,
}
# The status words carry the meaning; the colour only helps (16 colours, NO_COLOR).
STATUS_CLASS = {
    NodeStatus.COMPLIANT.value: "status--ok",
    NodeStatus.NOT_COMPLIANT.value: "status--running",
    NodeStatus.FAILED.value: "status--failed",
    NodeStatus.UNRESPONSIVE.value: "status--failed",
    NodeStatus.PENDING.value: "status--muted",
}
STATUS_COLUMN = 2
SORTS = ("host", "status")


def row_key(host: str, configuration: str) -> str:
    """A tab cannot be in a host name or a file stem, so the key splits back cleanly."""
    return f"{host}\t{configuration}"


def drift_class(column: int, text: str) -> str | None:
    if column == STATUS_COLUMN:
        return STATUS_CLASS.get(text.strip())
    return "status--muted" if text in ("never", "-") else None


def last_check(stamp: float | None) -> str:
    """Month, day, hour and minute: the short time a list column has room for."""
    if stamp is None:
        return "never"
    return time.strftime("%m-%d %H:%M", time.localtime(stamp))


def cells(state: NodeState, running: str = "", running_job: str = "") -> tuple[str, ...]:
    """`running` ("checking", "applying") replaces the last check while a job the
    operator started from the pane runs, and its job id shows at once."""
    checked = state.last_check is not None
    return (
        state.host,
        state.configuration,
        state.status.value,
        str(state.drifted) if checked else "-",
        running or last_check(state.last_check),
        running_job or state.job_id or "-",
    )


@dataclass(frozen=True)
class DriftFilter:
    """`/` text: `status:NAME` terms (any of them; a prefix will do, case ignored) and
    words that must each be in the host or configuration name."""

    statuses: frozenset[NodeStatus] = frozenset()
    words: tuple[str, ...] = ()

    def keeps(self, state: NodeState) -> bool:
        if self.statuses and state.status not in self.statuses:
            return False
        haystack = f"{state.host} {state.configuration}".lower()
        return all(word in haystack for word in self.words)


class FilterError(ValueError):
    """A `status:` term naming no status (the message lists the names)."""


def parse_filter(text: str) -> DriftFilter:
    statuses: set[NodeStatus] = set()
    words: list[str] = []
    for term in text.lower().split():
        if not term.startswith("status:"):
            words.append(term)
            continue
        for name in filter(None, term.removeprefix("status:").split(",")):
            found = [s for s in NodeStatus if s.value.lower().startswith(name)]
            if not found:
                names = ", ".join(s.value for s in NodeStatus)
                raise FilterError(f"no status {name!r} (status: one of {names})")
            statuses.update(found)
    return DriftFilter(frozenset(statuses), tuple(words))


def ordered(states: Sequence[NodeState], sort: str) -> list[NodeState]:
    """By host then configuration, or worst status first (then host, configuration)."""
    if sort == "status":
        return sorted(states, key=lambda s: (SEVERITY[s.status], s.host, s.configuration))
    return sorted(states, key=lambda s: (s.host, s.configuration))
