"""The confirmation before an apply (`a` on a Drift row): what will change on the host,
read from the row's last report, and a Yes/No answer (True: apply).

No is the focused button and Esc answers No: an apply changes a machine, so the
keystroke that slips through must be the one that does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.state.model import Report
from screens.format import clock
from screens.state_report import drifted, value_text


def question(host: str, configuration: str, report: Report | None) -> str:
    count = len(drifted(report))
    if count:
        return f"Apply {count} change{'s' if count != 1 else ''} to {host}?"
    return f"Apply {configuration} to {host}?"


def plan(configuration: str, report: Report | None) -> str:
    """One line per drifted resource: what it is now, and what it will be."""
    if report is None:
        return (
            f"This host was never checked under {configuration}: the apply makes every "
            "resource as declared."
        )
    changes = drifted(report)
    when = f"the last {report.kind} ({clock(report.time)})"
    if not changes:
        return f"{configuration}: {when} found no drift; the apply should change nothing."
    lines = [f"{configuration}, from {when}:"]
    for result in changes:
        now, becomes = differing(result.actual, result.expected)
        lines.append(f"  {result.resource}")
        lines.append(f"      now     {value_text(now)}")
        lines.append(f"      becomes {value_text(becomes)}")
    return "\n".join(lines)


def differing(actual: Any, expected: Any) -> tuple[Any, Any]:
    """Only the values that change, when both sides are mappings (a file's mode, not
    its unchanged owner): what the operator is asked to agree to."""
    if not (isinstance(actual, Mapping) and isinstance(expected, Mapping)):
        return actual, expected
    keys = [k for k in expected if actual.get(k) != expected[k]] or list(expected)
    return {k: actual.get(k) for k in keys}, {k: expected[k] for k in keys}


class ApplyDialog(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, host: str, configuration: str, report: Report | None) -> None:
        super().__init__()
        self.host = host
        self.configuration = configuration
        self.report = report

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(
                question(self.host, self.configuration, self.report),
                classes="dialog-title",
                markup=False,
            )
            with VerticalScroll(id="apply-plan"):
                yield Static(plan(self.configuration, self.report), markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply (y)", id="apply-yes", variant="warning")
                yield Button("No (n)", id="apply-no")

    def on_mount(self) -> None:
        self.query_one("#apply-no", Button).focus()

    @on(Button.Pressed, "#apply-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#apply-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, apply: bool) -> None:
        self.dismiss(apply)
