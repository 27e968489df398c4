"""Shared printing for CLI commands: times, job tables, live stream lines, JSON.

Text a host, a webhook sender or a runbook wrote goes through `printable` before it
reaches the operator's terminal; `--json` output keeps it exact (JSON escapes it).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from console.jobs.model import Job, StreamRecord

# C0 controls (but tab and newline), DEL and the C1 controls (0x9b is a one-byte CSI on
# terminals that take 8-bit controls) written as Python escapes: ESC becomes `\x1b`.
_CONTROLS = {
    code: f"\\x{code:02x}"
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if chr(code) not in "\t\n"
}
PARAMETER_SHOWN_CHARS = 200  # of one parameter value in human output
_MARKS = {
    "output": "|",
    "error": "!",
    "warning": "W",
    "verbose": "V",
    "progress": "P",
    "debug": "D",
}


def printable(text: str) -> str:
    """`text` with every terminal control character shown as an escape (`\\x1b[2J`), so
    what a host prints can never clear the operator's screen, set the window title,
    move the cursor or overwrite an earlier line (`\\r`, backspace). Tabs and newlines
    stay: they lay text out but cannot rewrite what is on screen."""
    return text.translate(_CONTROLS)


def iso(stamp: float | None) -> str | None:
    """Machine-readable UTC time for --json output."""
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


def local_time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def job_summary(job: Job) -> dict[str, Any]:
    """The `jobs list --json` object."""
    return {
        "id": job.id,
        "runbook": job.runbook,
        "pattern": job.pattern,
        "hosts": list(job.hosts),
        "status": job.status.value,
        "trigger": job.trigger.value,
        "started_by": job.started_by,
        "created": iso(job.created),
        "started": iso(job.started),
        "ended": iso(job.ended),
    }


def job_detail(job: Job, records: list[StreamRecord]) -> dict[str, Any]:
    """The `jobs show --json` (and `run --json`) object."""
    return {
        **job_summary(job),
        "parameters": job.parameters,
        "trigger_ref": job.trigger_ref,
        "reason": job.reason,
        "host_runs": [
            {
                "host": r.host,
                "status": r.status.value,
                "exit_code": r.exit_code,
                "error": r.error_text,
                "worker": r.worker,
            }
            for r in job.host_runs.values()
        ],
        "streams": [
            {"time": iso(r.time), "host": r.host, "stream": r.stream.lower(), "text": r.text}
            for r in records
        ],
    }


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def stream_line(record: StreamRecord, width: int) -> str:
    mark = _MARKS.get(record.stream, "?")
    return f"{printable(record.host):<{width}} {mark} {printable(record.text)}"


def print_job_table(jobs: list[Job]) -> None:
    print(
        f"{'ID':<20} {'STATUS':<10} {'RUNBOOK':<22} {'PATTERN':<18} {'TRIGGER':<9} "
        f"{'STARTED BY':<16} {'STARTED':<19} DURATION"
    )
    for job in jobs:
        print(
            f"{job.id:<20} {job.status.value:<10} {printable(job.runbook)[:22]:<22} "
            f"{printable(job.pattern)[:18]:<18} {job.trigger.value:<9} "
            f"{printable(job.started_by)[:16]:<16} {local_time(job.started):<19} "
            f"{duration(job.duration)}"
        )


def shortened(text: str, limit: int = PARAMETER_SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters with its full size said, so one 140 KB webhook
    body does not bury the rest of `jobs show` (the whole value is in `--json`)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text.encode())} bytes)"


def print_parameters(parameters: dict[str, Any]) -> None:
    """One line per parameter: strings as they are, other values as JSON."""
    if not parameters:
        return
    print("  parameters")
    for name, value in parameters.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        print(f"    {printable(name)} = {printable(shortened(text))}")


def print_host_runs(job: Job) -> None:
    width = max((len(h) for h in job.hosts), default=4)
    for run in job.host_runs.values():
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        worker = f"on worker {printable(run.worker)} " if run.worker else ""
        print(
            f"  {run.host:<{width}}  {run.status.value:<10} exit {exit_code:<4} "
            f"{worker}{printable(run.error_text or '')}"
        )
