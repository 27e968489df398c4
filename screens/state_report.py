"""A host's desired-state report (Enter on a Drift row): its status, when and by which
job it was made, and every resource with its status; for each resource that drifted
(or that an apply changed) the expected and actual values and the diff, coloured.

It is the diff dialog of `screens.diff_view` with a report for a body, so the keys and
the look are those of a change's diff. Every status is a word, coloured as a help only:
the report reads the same on a 16-colour terminal or without colour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from console.state.model import Report, ResourceResult, ResourceStatus
from screens.diff_view import DiffDialog, coloured_diff
from screens.format import clock
from screens.logview import clean

RESOURCE_STYLES = {
    ResourceStatus.COMPLIANT: "green",
    ResourceStatus.DRIFTED: "yellow",
    ResourceStatus.CHANGED: "cyan",
    ResourceStatus.FAILED: "red",
    ResourceStatus.SKIPPED: "",
    ResourceStatus.UNKNOWN: "",
}
DETAILED = (ResourceStatus.DRIFTED, ResourceStatus.CHANGED)
STATUS_WIDTH = max(len(s.value) for s in ResourceStatus)
INDENT = " " * (STATUS_WIDTH + 2)


def value_text(value: Any) -> str:
    """`expected`/`actual` on one line: a mapping as `key=value  ...`; strings with
    line breaks or nothing in them quoted, so "\\n" and "" can be told apart."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):  # two spaces apart: a value may hold ", "
        return "  ".join(f"{k}={value_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value) or "[]"
    if isinstance(value, str) and (not value or not value.isprintable()):
        return repr(value)
    return clean(str(value))


def summary(report: Report) -> str:
    """The line under the title: what made the report, when, and in which job."""
    job = f"  job {report.job_id}" if report.job_id else ""
    return f"{report.kind} at {clock(report.time)}{job}"


def tally(report: Report) -> str:
    """The resources counted by status, worst news first."""
    counts = Counter(r.status for r in report.resources)
    order = sorted(ResourceStatus, key=lambda s: s not in (ResourceStatus.FAILED, *DETAILED))
    return ", ".join(f"{counts[s]} {s.value}" for s in order if counts[s])


def _resource(text: Text, result: ResourceResult) -> None:
    text.append(f"{result.status.value:<{STATUS_WIDTH}}  ", style=RESOURCE_STYLES[result.status])
    text.append(clean(result.resource) + "\n", style="bold")
    if result.status in DETAILED:
        text.append(f"{INDENT}expected  {value_text(result.expected)}\n")
        text.append(f"{INDENT}actual    {value_text(result.actual)}\n")
        if result.diff:
            text.append_text(coloured_diff(result.diff, INDENT))
    if result.message:
        text.append(f"{INDENT}{clean(result.message)}\n", style="italic")


def report_body(report: Report) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if report.error:
        text.append(f"Error: {clean(report.error)}\n\n", style="red")
    if report.intentional:
        text.append("The configuration changed since the last report: intentional changes.\n\n")
    if report.resources:
        text.append(f"{len(report.resources)} resources: {tally(report)}\n\n")
    elif not report.error:
        text.append("No resources in this report.\n")
    for result in report.resources:
        _resource(text, result)
    return text


def drifted(report: Report | None) -> Sequence[ResourceResult]:
    if report is None:
        return ()
    return [r for r in report.resources if r.status is ResourceStatus.DRIFTED]


class StateReport(DiffDialog):
    def __init__(self, report: Report) -> None:
        super().__init__(
            f"{report.host} / {report.configuration}: {report.status.value}",
            summary(report),
            report_body(report),
        )
        self.report = report
