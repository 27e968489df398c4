"""Two read-only views of the Updates pane: a host's pending packages (Enter on a row)
and the recent deployment runs with each host's and package's result (`R`).

Both are the scrolling dialog of `screens.diff_view` with plain text for a body:
columns padded to the widest value, every status a word (coloured as a help only).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from console.jobs.model import Job
from console.updates.model import Assessment, Classification, HostDeployment, PackageStatus
from screens.diff_view import DiffDialog
from screens.format import clock
from screens.logview import clean
from screens.updates_rows import assessed_at, compliance

URGENCY = list(Classification)  # Critical first, Other last: the order packages are listed
RECENT_RUNS = 20  # deployment runs listed by `R`, newest first
STATUS_STYLES = {
    PackageStatus.SUCCEEDED.value: "green",
    PackageStatus.FAILED.value: "red",
    PackageStatus.WINDOW_EXCEEDED.value: "yellow",
    "Succeeded": "green",
    "Failed": "red",
    "Completed": "green",
}


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows as lines, each column padded to its widest cell."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def packages_body(assessment: Assessment) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if assessment.error:
        text.append(f"Error: {clean(assessment.error)}\n\n", style="red")
    if assessment.reboot_pending:
        reasons = ", ".join(assessment.reboot_packages)
        text.append(f"Reboot pending{f' (for {reasons})' if reasons else ''}.\n\n", style="yellow")
    if not assessment.updates:
        text.append("No pending update." if assessment.assessed and not assessment.error else "")
        return text
    rows = [("Package", "Installed -> Available", "Class", "Source")]
    rows += [
        (
            clean(u.name),
            f"{u.installed or '(new)'} -> {u.available}",
            u.classification.value,
            clean(u.source),
        )
        for u in sorted(assessment.updates, key=lambda u: (URGENCY.index(u.classification), u.name))
    ]
    header, *lines = _table(rows)
    text.append(header + "\n", style="bold")
    for line in lines:
        text.append(line + "\n")
    return text


class PackagesView(DiffDialog):
    """A host's pending updates from its latest assessment."""

    def __init__(self, assessment: Assessment) -> None:
        count = len(assessment.updates)
        manager = f" ({assessment.manager})" if assessment.manager else ""
        super().__init__(
            f"{assessment.host}: {count} pending update{'s' if count != 1 else ''}{manager}",
            f"assessed {assessed_at(assessment)}   compliant: {compliance(assessment)}",
            packages_body(assessment),
        )
        self.assessment = assessment


def _host_result(text: Text, result: HostDeployment) -> None:
    rebooted = "rebooted" if result.rebooted else "not rebooted"
    note = f" ({clean(result.reboot_note)})" if result.reboot_note else ""
    text.append(f"  {result.host}  ", style="bold")
    text.append(result.status, style=STATUS_STYLES.get(result.status, ""))
    text.append(f"  {rebooted}{note}\n")
    if result.error:
        text.append(f"    {clean(result.error)}\n", style="italic")
    rows = [
        (clean(p.name), f"{p.from_version or '(new)'} -> {p.to_version}", p.status.value)
        for p in result.packages
    ]
    for line, package in zip(_table(rows, "    "), result.packages, strict=True):
        text.append(line + "\n", style=STATUS_STYLES.get(package.status.value, ""))
        if package.message:
            text.append(f"      {clean(package.message)}\n", style="italic")


def run_name(job: Job) -> str:
    deployment = job.parameters.get("deployment")
    name = deployment.get("name") if isinstance(deployment, dict) else None
    return str(name or job.pattern)


def runs_body(runs: Sequence[tuple[Job, Sequence[HostDeployment]]]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not runs:
        text.append("No deployment run yet: d on a host deploys its updates.\n")
    for job, results in runs:
        text.append(f"{run_name(job)}  ", style="bold")
        text.append(job.status.value, style=STATUS_STYLES.get(job.status.value, ""))
        text.append(f"  {clock(job.started or job.created)}  job {job.id}  on {job.pattern}\n")
        for result in results:
            _host_result(text, result)
        waiting = [h for h in job.hosts if h not in {r.host for r in results}]
        if waiting:
            text.append(f"  no result yet: {', '.join(waiting)}\n", style="italic")
        text.append("\n")
    return text


class RunsView(DiffDialog):
    """The recent `(updates deploy)` jobs, each host's status, reboot and packages."""

    def __init__(self, runs: Sequence[tuple[Job, Sequence[HostDeployment]]]) -> None:
        super().__init__(
            "Recent update deployments",
            f"the last {RECENT_RUNS} runs, newest first (their output: the Jobs pane, key 4)",
            runs_body(runs),
        )
