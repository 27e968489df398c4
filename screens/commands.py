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
JOBS = "jobs"
JOB = "job"  # the open job's screen
SCOPES = {APP: "Everywhere", INVENTORY: "Inventory", JOBS: "Jobs", JOB: "Open job"}


@dataclass(frozen=True)
class Command:
    id: str
    key: str
    description: str
    action: str
    scope: str = APP
    show: bool = True  # shown in the footer
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.description, show=self.show,
                       id=self.id, priority=self.priority)


COMMANDS: tuple[Command, ...] = (
    Command("pane.inventory", "1", "Inventory", "show_pane('inventory')", show=False),
    Command("pane.drift", "2", "Drift", "show_pane('drift')", show=False),
    Command("pane.updates", "3", "Updates", "show_pane('updates')", show=False),
    Command("pane.jobs", "4", "Jobs", "show_pane('jobs')", show=False),
    Command("run", "r", "Run runbook", "run_dialog"),
    Command("exec", "x", "Exec command", "command_dialog"),
    Command("help", "question_mark", "Help", "help"),
    Command("palette", "ctrl+p", "Commands", "command_palette"),
    Command("quit", "q", "Quit", "request_quit"),
    Command("inventory.filter", "slash", "Filter", "filter", INVENTORY),
    Command("inventory.probe", "p", "Probe", "probe", INVENTORY),
    Command("inventory.detail", "enter", "Host detail", "detail", INVENTORY, show=False),
    Command("inventory.clear", "escape", "Clear filter", "clear_filter", INVENTORY,
            show=False),
    Command("jobs.filter", "slash", "Filter", "filter", JOBS),
    Command("jobs.open", "enter", "Open job", "open", JOBS, show=False),
    Command("jobs.refresh", "ctrl+r", "Reload", "reload", JOBS, show=False),
    Command("jobs.clear", "escape", "Clear filter", "clear_filter", JOBS, show=False),
    Command("job.stop", "s", "Stop", "stop", JOB),
    Command("job.rerun", "a", "Run again", "rerun(False)", JOB),
    Command("job.rerun_failed", "f", "Rerun failed", "rerun(True)", JOB),
    Command("job.follow", "t", "Follow tail", "follow", JOB, show=False),
    Command("job.close", "escape", "Back", "close", JOB),
)


def commands_for(scope: str) -> list[Command]:
    return [c for c in COMMANDS if c.scope == scope]


def bindings_for(scope: str) -> list[BindingType]:
    return [c.binding() for c in commands_for(scope)]


def by_id(command_id: str) -> Command | None:
    return next((c for c in COMMANDS if c.id == command_id), None)


KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter"}


def key_label(key: str) -> str:
    """How a key is written in help and palette ("question_mark" reads as "?")."""
    return ",".join(KEY_NAMES.get(k, k) for k in key.split(","))
