"""The deployment dialog (`d` on an Updates row): which updates, where, in how long a
maintenance window, with which reboot setting; checked field by field before anything
starts, then started as an `(updates deploy)` job now.

The checks are those of `opsconsole updates deploy` (the screens may not import the
CLI, so the same rules are stated here over the same model): each mistake names the
field to fix, and the dialog stays open with the focus on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Static

from console.errors import OpsError, UsageError
from console.jobs.model import Job
from console.updates import rules
from console.updates.model import (
    Deployment,
    RebootSetting,
    Selection,
)
from screens.context import client_of
from screens.forms import FieldRow, FormDialog, form_footer

T = TypeVar("T")

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Field id -> its label, the name a message gives the operator.
FIELDS = {
    "deploy-name": "Name",
    "deploy-pattern": "Target",
    "deploy-classes": "Classifications",
    "deploy-include": "Include",
    "deploy-exclude": "Exclude",
    "deploy-window": "Window",
    "deploy-reboot": "Reboot",
}


class FieldError(UsageError):
    """A field's value cannot be used: `field` is the id of the input to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{FIELDS[field]}: {message}")
        self.field = field


def default_name(host: str) -> str:
    """`patch-HOST` when that is a valid deployment name, else nothing to start from."""
    try:
        return rules.check_name(f"patch-{host}")
    except UsageError:
        return ""


def checked(field: str, check: Callable[..., T], *values: Any) -> T:
    """`check(*values)` (a rule of console.updates.rules), its error on `field`."""
    try:
        return check(*values)
    except UsageError as exc:
        raise FieldError(field, str(exc)) from None


def masks(text: str, field: str) -> tuple[str, ...]:
    """Space- or comma-separated package name globs."""
    found = tuple(m for m in re.split(r"[\s,]+", text.strip()) if m)
    return checked(field, rules.masks, found)


def reboot_setting(text: str) -> RebootSetting:
    found = [r for r in RebootSetting if r.value.lower() == text.strip().lower()]
    if not found:
        names = ", ".join(r.value for r in RebootSetting)
        raise FieldError("deploy-reboot", f"{text.strip()!r} is not a reboot setting ({names})")
    return found[0]


def window(text: str, reboot: RebootSetting) -> float:
    """ "2h", "90m", "1d" or seconds, long enough for the engine's margins."""
    match = DURATION.match(text.lower())
    if not match:
        raise FieldError("deploy-window", f"{text!r} is not a duration; use e.g. 90m, 2h")
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    return checked("deploy-window", rules.check_window, seconds, reboot)


def deployment(values: dict[str, str]) -> Deployment:
    """The Deployment the fields describe (field id -> text), or the first FieldError."""
    name = checked("deploy-name", rules.check_name, values["deploy-name"].strip())
    pattern = values["deploy-pattern"].strip()
    if not pattern:
        raise FieldError("deploy-pattern", "type the hosts to patch (a host, group or pattern)")
    selection = Selection(
        checked("deploy-classes", rules.classifications, values["deploy-classes"]),
        masks(values["deploy-include"], "deploy-include"),
        masks(values["deploy-exclude"], "deploy-exclude"),
    )
    reboot = reboot_setting(values["deploy-reboot"])
    checked("deploy-classes", rules.check_selection, selection, reboot)
    seconds = window(values["deploy-window"], reboot)
    return Deployment(name, pattern, selection, seconds, reboot)


class DeployDialog(FormDialog[Job | None]):
    """Deploy now (ctrl+s or the button); the answer is the started job."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Deploy updates now", classes="dialog-title")
            defaults = {
                "deploy-name": default_name(self.host),
                "deploy-pattern": self.host,
                "deploy-classes": "Security,Critical",
                "deploy-include": "",
                "deploy-exclude": "",
                "deploy-window": "2h",
                "deploy-reboot": RebootSetting.IF_REQUIRED.value,
            }
            hints = {
                "deploy-include": "package globs, e.g. openssl* libssl*",
                "deploy-exclude": "globs never installed (they win)",
                "deploy-reboot": "IfRequired, Never, Always, RebootOnly",
            }
            for field, label in FIELDS.items():
                yield FieldRow(
                    label, Input(defaults[field], placeholder=hints.get(field, ""), id=field)
                )
            yield from form_footer("deploy", "Deploy", "window: 90m, 2h, 1d")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#deploy-classes", Input))

    @on(Button.Pressed, "#deploy-deploy")
    def _deploy_pressed(self) -> None:
        self.after_typing(self.submit)

    @on(Button.Pressed, "#deploy-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    async def submit(self) -> None:
        error = self.query_one("#deploy-error", Static)
        values = {field: self.query_one(f"#{field}", Input).value for field in FIELDS}
        try:
            wanted = deployment(values)
        except FieldError as exc:
            error.update(str(exc))
            self.set_focus(self.query_one(f"#{exc.field}", Input))
            return
        try:
            job = await client_of(self).updates.deploy(wanted)
        except OpsError as exc:
            error.update(str(exc))
            return
        self.dismiss(job)
