"""The one registry of console commands.

Each command has an id, a default key, a description, an action and the place where it
applies. Key bindings, the footer, the `?` help screen and the command palette are all
built from this table, so a command cannot exist in one and be missing from another.
Operators remap keys by command id (see `keymap.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

# Where a command applies: the whole app, or one pane / screen (its widget handles it).
APP = "app"
INVENTORY = "inventory"
DRIFT = "drift"
UPDATES = "updates"
JOBS = "jobs"
JOB = "job"  # the open job's screen
ASSETS = "assets"  # the assets screen
CHANGES = "changes"  # the changes screen
HOST = "host"  # the host detail dialog
SCOPES = {
    APP: "Everywhere",
    INVENTORY: "Inventory",
    DRIFT: "Drift",
    UPDATES: "Updates",
    JOBS: "Jobs",
    JOB: "Open job",
    ASSETS: "Assets",
    CHANGES: "Changes",
    HOST: "Host detail",
}


@dataclass(frozen=True)
class Command:
    id: str
    key: str
    description: str
    action: str
    scope: str = APP
    show: bool = True  # shown in the footer
    # Runs in the key's own turn, before later keys are dispatched: for keys that move
    # the focus (`/`), so what is typed right after lands in the new field.
    priority: bool = False
    label: str = ""  # the footer's shorter text, so the keys fit 80 columns

    def binding(self) -> Binding:
        # App-wide commands are priority bindings too (the app lets them stand aside
        # while a field or a dialog has the keyboard, see OpsConsoleApp.check_action).
        return Binding(
            self.key,
            self.action,
            self.label or self.description,
            show=self.show,
            id=self.id,
            priority=self.priority or self.scope == APP,
        )


COMMANDS: tuple[Command, ...] = (
    Command("pane.inventory", "1", "Inventory", "show_pane('inventory')", show=False),
    Command("pane.drift", "2", "Drift", "show_pane('drift')", show=False),
    Command("pane.updates", "3", "Updates", "show_pane('updates')", show=False),
    Command("pane.jobs", "4", "Jobs", "show_pane('jobs')", show=False),
    Command("run", "r", "Run runbook", "run_dialog", label="Runbook"),
    Command("exec", "x", "Exec command", "command_dialog", label="Exec"),
    Command("assets", "A", "Assets", "assets", show=False),
    Command("changes", "C", "Changes", "changes", show=False),
    Command("help", "question_mark", "Help", "help"),
    Command("palette", "ctrl+p", "Commands", "command_palette", show=False),
    Command("quit", "q", "Quit", "request_quit"),
    Command("inventory.filter", "slash", "Filter", "filter", INVENTORY, priority=True),
    Command("inventory.probe", "p", "Probe", "probe", INVENTORY),
    Command("inventory.detail", "enter", "Host detail", "detail", INVENTORY, show=False),
    Command("inventory.clear", "escape", "Clear filter", "clear_filter", INVENTORY, show=False),
    Command("drift.filter", "slash", "Filter", "filter", DRIFT, priority=True),
    Command("drift.report", "enter", "Show report", "report", DRIFT, show=False),
    Command("drift.check", "c", "Check now", "check", DRIFT, label="Check"),
    Command("drift.check_all", "K", "Check everything", "check_all", DRIFT, show=False),
    Command("drift.apply", "a", "Apply", "apply", DRIFT),
    # `j` moves down in every list: the job is capital J.
    Command("drift.job", "J", "Open last job", "job", DRIFT, label="Job"),
    Command("drift.sort", "s", "Sort host/status", "sort", DRIFT, label="Sort"),
    Command("drift.reload", "ctrl+r", "Reload", "reload", DRIFT, show=False),
    Command("drift.clear", "escape", "Clear filter", "clear_filter", DRIFT, show=False),
    Command("updates.filter", "slash", "Filter", "filter", UPDATES, priority=True),
    Command("updates.packages", "enter", "Pending packages", "packages", UPDATES, show=False),
    Command("updates.assess", "a", "Assess now", "assess", UPDATES, label="Assess"),
    Command("updates.assess_all", "U", "Assess every host", "assess_all", UPDATES, show=False),
    Command("updates.deploy", "d", "Deploy updates", "deploy", UPDATES, label="Deploy"),
    Command("updates.runs", "R", "Recent deployment runs", "runs", UPDATES, label="Runs"),
    Command("updates.sort", "s", "Sort host/compliance", "sort", UPDATES, label="Sort"),
    Command("updates.reload", "ctrl+r", "Reload", "reload", UPDATES, show=False),
    Command("updates.clear", "escape", "Clear filter", "clear_filter", UPDATES, show=False),
    Command("jobs.filter", "slash", "Filter", "filter", JOBS, priority=True),
    Command("jobs.open", "enter", "Open job", "open", JOBS, show=False),
    Command("jobs.refresh", "ctrl+r", "Reload", "reload", JOBS, show=False),
    Command("jobs.clear", "escape", "Clear filter", "clear_filter", JOBS, show=False),
    Command("job.stop", "s", "Stop", "stop", JOB),
    Command("job.rerun", "a", "Run again", "rerun(False)", JOB, label="Rerun"),
    Command(
        "job.rerun_failed", "f", "Rerun failed hosts", "rerun(True)", JOB, label="Rerun failed"
    ),
    Command("job.filter", "slash", "Filter hosts", "filter", JOB, label="Filter", priority=True),
    Command("job.follow", "t", "Follow tail", "follow", JOB, show=False),
    Command("job.close", "escape", "Back", "close", JOB),
    Command("assets.new", "n", "New asset", "new", ASSETS, label="New"),
    Command("assets.edit", "e", "Replace asset", "edit", ASSETS, label="Replace"),
    Command("assets.delete", "d", "Delete asset", "delete", ASSETS, label="Delete"),
    Command("assets.reload", "ctrl+r", "Reload", "reload", ASSETS, show=False),
    Command("assets.close", "escape", "Back", "close", ASSETS),
    Command("changes.filter", "slash", "Filter", "filter", CHANGES, priority=True),
    Command("changes.open", "enter", "Show diff", "open", CHANGES, label="Diff"),
    Command("changes.reload", "ctrl+r", "Reload", "reload", CHANGES, show=False),
    Command("changes.close", "escape", "Back", "close", CHANGES),
    Command("host.overview", "1", "Overview tab", "tab('overview')", HOST),
    Command("host.facts", "2", "Facts tab", "tab('facts')", HOST),
    Command("host.software", "3", "Software tab", "tab('software')", HOST),
    Command("host.services", "4", "Services tab", "tab('services')", HOST),
    Command("host.changes", "5", "Changes tab", "tab('changes')", HOST),
    Command("host.collect", "c", "Collect now", "collect", HOST),
    Command("host.filter", "slash", "Filter software", "filter", HOST, priority=True),
    Command("host.close", "escape", "Close", "close", HOST),
)


def action_name(command: Command) -> str:
    """The action's method name without arguments: "show_pane('jobs')" -> "show_pane"."""
    return command.action.partition("(")[0]


def commands_for(scope: str) -> list[Command]:
    return [c for c in COMMANDS if c.scope == scope]


def bindings_for(scope: str) -> list[BindingType]:
    return [c.binding() for c in commands_for(scope)]


def by_id(command_id: str) -> Command | None:
    return next((c for c in COMMANDS if c.id == command_id), None)


NAMED_KEYS = frozenset(
    {
        "escape",
        "enter",
        "tab",
        "backspace",
        "delete",
        "insert",
        "home",
        "end",
        "pageup",
        "pagedown",
        "up",
        "down",
        "left",
        "right",
    }
)


def is_typed(keys: str) -> bool:
    """Whether any of these keys ("r", "question_mark", "ctrl+o,f5") also types a
    character into a text field: a printable key without a modifier."""
    return any(
        "+" not in key and key not in NAMED_KEYS and not (key[:1] == "f" and key[1:].isdigit())
        for key in keys.split(",")
    )


KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter"}


def key_label(key: str) -> str:
    """How a key is written in help and palette ("question_mark" reads as "?")."""
    return ",".join(KEY_NAMES.get(k, k) for k in key.split(","))
