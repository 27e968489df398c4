"""`ChangeData`: what a runbook started by a change-tracking alert is told about the
change, as `WebhookData` tells a webhook's runbook about its request.

The change's JSON (`changes list --json`: `id, time, host, type, change, name,
before, after`) plus the `alert` that fired and, for a file, the unified `diff`. A
file's content is left out of `before`/`after` (the diff shows what changed in it):
the job keeps ChangeData among its parameters, and two copies of a 1 MiB file per job
would make every alert job a large record. A diff over `DIFF_LIMIT` characters is cut
there and says so; `opsconsole changes show ID` prints all of it.
"""

from __future__ import annotations

from typing import Any

from console.changes.codec import change_to_dict
from console.changes.diff import unified_diff
from console.changes.model import Change, ChangeType

DIFF_LIMIT = 64 * 1024


def change_data(change: Change, alert: str) -> dict[str, Any]:
    """The ChangeData of `change` for the alert named `alert`."""
    data = {**change_to_dict(change), "alert": alert}
    if change.type is ChangeType.FILE:
        data["before"] = _without_content(change.before)
        data["after"] = _without_content(change.after)
        data["diff"] = _cut(unified_diff(change))
    return data


def _without_content(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key != "content"}
    return value


def _cut(diff: str) -> str:
    if len(diff) <= DIFF_LIMIT:
        return diff
    return diff[:DIFF_LIMIT] + "\n... (cut: `opsconsole changes show ID` prints all of it)\n"
