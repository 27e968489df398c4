"""The deployment dialog (`d` on an Updates row): which updates, where, in how long a
maintenance window, with which reboot setting, and when: now, once at a time, or on a
cron schedule in a time zone. Each field is checked before anything starts, by the
same rules as `opsconsole updates deploy` (`console.updates.rules`); each mistake names
the field to fix, and the dialog stays open with the focus on it.

Started now, the answer is the `(updates deploy)` job; scheduled, it is `Scheduled`
(the engine keeps the deployment with a schedule of its name, as `--at`/`--cron` do).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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

# Field id -> its label, the name a message gives the operator.
FIELDS = {
    "deploy-name": "Name",
    "deploy-pattern": "Target",
    "deploy-classes": "Classifications",
    "deploy-include": "Include",
    "deploy-exclude": "Exclude",
    "deploy-window": "Window",
    "deploy-reboot": "Reboot",
    "deploy-when": "When",
    "deploy-tz": "Time zone",
}
# The engine's schedule errors name the CLI's options; the dialog's field for each.
OPTION_FIELDS = {"--at": "deploy-when", "--cron": "deploy-when", "--tz": "deploy-tz"}
_OPTION_PREFIX = re.compile(r"^(--at|--cron|--tz)(?: / --\w+)?: ")


@dataclass(frozen=True)
class Scheduled:
    """The dialog's answer when the deployment was scheduled rather than started."""

    name: str
    next_run: str | None


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
    seconds = checked("deploy-window", rules.window, values["deploy-window"], reboot)
    return Deployment(name, pattern, selection, seconds, reboot)


def engine_field_error(exc: UsageError) -> FieldError:
    """The engine's refusal of a schedule, on the field to fix: `--at`, `--cron` and
    `--tz` mistakes on When and Time zone (without the option's name), others (a name
    already taken) on Name."""
    text = str(exc)
    match = _OPTION_PREFIX.match(text)
    if match is None:
        return FieldError("deploy-name", text)
    return FieldError(OPTION_FIELDS[match.group(1)], text[match.end() :])


class DeployDialog(FormDialog[Job | Scheduled | None]):
    """Deploy (ctrl+s or the button): now when When is empty, else scheduled."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Deploy updates", classes="dialog-title")
            defaults = {
                "deploy-name": default_name(self.host),
                "deploy-pattern": self.host,
                "deploy-classes": "Security,Critical",
                "deploy-include": "",
                "deploy-exclude": "",
                "deploy-window": "2h",
                "deploy-reboot": RebootSetting.IF_REQUIRED.value,
                "deploy-when": "",
                "deploy-tz": "UTC",
            }
            hints = {
                "deploy-include": "package globs, e.g. openssl* libssl*",
                "deploy-exclude": "globs never installed (they win)",
                "deploy-reboot": "IfRequired, Never, Always, RebootOnly",
                "deploy-when": "now; or 2026-12-06T02:00; or cron 0 2 * * sun",
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
            self._show(exc)
            return
        at, cron = rules.when(values["deploy-when"])
        updates = client_of(self).updates
        try:
            if at is None and cron is None:
                self.dismiss(await updates.deploy(wanted))
                return
            tz = values["deploy-tz"].strip() or None
            view = await updates.schedule_deployment(wanted, at, cron, tz)
        except UsageError as exc:
            if at is None and cron is None:
                error.update(str(exc))
                return
            self._show(engine_field_error(exc))
            return
        except OpsError as exc:
            error.update(str(exc))
            return
        self.dismiss(Scheduled(wanted.name, view.get("next")))

    def _show(self, exc: FieldError) -> None:
        self.query_one("#deploy-error", Static).update(str(exc))
        self.set_focus(self.query_one(f"#{exc.field}", Input))
