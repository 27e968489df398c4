"""Reports of desired-state checks and applies, under `<data_dir>/state/`.

Layout::

    state/reports/<host>.json   the latest report of each configuration on a host,
                                and the configuration digest of its last apply
                                (`applied`), replaced atomically (console.store.atomic)
    state/history.jsonl         one line per report (status, counts, job; no
                                resources): the status history, kept 30 days

A report file holds whole reports (resources, diffs) because `state show` and the
Drift pane's report view need them; the status list of 10,000 hosts must not read
10,000 files, so a small summary of every latest report is kept in memory, built once
at open. A report file that does not decode is set aside as `.damaged` (logged): the
host is Pending for those configurations until its next run, and no other host is
affected. A torn last history line (a crash mid-append) is cut at open.
One process uses a data directory (the engine holds its lock); a lock makes the calls
safe from the event loop and worker threads alike.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from console.state.codec import report_from_dict, report_to_dict
from console.state.model import NodeStatus, Report
from console.store.atomic import remove_debris, write_atomic
from console.store.damage import fsync_dir, keep_damaged, set_aside
from console.store.jsonl import Line, cut_torn_tail, read_jsonl

log = logging.getLogger(__name__)

DAY = 86400.0
REPORT_SUFFIX = ".json"


@dataclass(frozen=True)
class Summary:
    """What the status list needs of a latest report."""

    status: NodeStatus
    time: float
    drifted: int
    job_id: str
    digest: str
    applied: str  # the digest of the configuration as last applied ("" never applied)


class StateStore:
    """Latest reports and the status history of one data directory."""

    def __init__(self, data_dir: Path, *, retention_days: float = 30) -> None:
        self.directory = Path(data_dir) / "state"
        self.reports_dir = self.directory / "reports"
        self.history_path = self.directory / "history.jsonl"
        self.retention_days = retention_days
        self.reports_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_debris(self.reports_dir)
        if self.history_path.exists():
            cut_torn_tail(self.history_path)
        self._lock = threading.RLock()
        self._summaries: dict[tuple[str, str], Summary] = {}
        for path in sorted(self.reports_dir.glob(f"*{REPORT_SUFFIX}")):
            reports, applied = self._read(path)
            for report in reports.values():
                key = (report.host, report.configuration)
                self._summaries[key] = _summary(report, applied.get(report.configuration, ""))

    # -- latest reports -------------------------------------------------------------

    def record(self, report: Report) -> None:
        """Keep `report` as the latest of its host and configuration, and add it to
        the history. Durable when it returns."""
        with self._lock:
            path = self._path(report.host)
            reports, applied = self._read(path)
            reports[report.configuration] = report
            if report.kind == "apply" and report.resources:  # it reached the host
                applied[report.configuration] = report.digest
            data = {
                "reports": {name: report_to_dict(r) for name, r in sorted(reports.items())},
                "applied": applied,
            }
            write_atomic(path, json.dumps(data, ensure_ascii=False).encode())
            self._summaries[(report.host, report.configuration)] = _summary(
                report, applied.get(report.configuration, "")
            )
            self._append_history(report)

    def latest(self, host: str, configuration: str) -> Report | None:
        with self._lock:
            return self._read(self._path(host))[0].get(configuration)

    def latest_for_host(self, host: str) -> list[Report]:
        """The host's latest report of each configuration, by configuration name."""
        with self._lock:
            reports = self._read(self._path(host))[0]
        return [reports[name] for name in sorted(reports)]

    def summary(self, host: str, configuration: str) -> Summary | None:
        """The summary of one latest report (a host run asks this; no copy of all)."""
        with self._lock:
            return self._summaries.get((host, configuration))

    def summaries(self) -> dict[tuple[str, str], Summary]:
        """(host, configuration) -> the summary of its latest report."""
        with self._lock:
            return dict(self._summaries)

    def _path(self, host: str) -> Path:
        quoted = quote(host, safe="-_.@")
        if quoted.startswith("."):
            quoted = "%2E" + quoted[1:]
        return self.reports_dir / (quoted + REPORT_SUFFIX)

    def _read(self, path: Path) -> tuple[dict[str, Report], dict[str, str]]:
        """The host's reports by configuration, and the digests last applied."""
        try:
            raw = json.loads(path.read_bytes())
            reports = {name: report_from_dict(data) for name, data in raw["reports"].items()}
            return reports, {str(k): str(v) for k, v in raw["applied"].items()}
        except FileNotFoundError:
            return {}, {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = set_aside(path)
            host = unquote(path.name.removesuffix(REPORT_SUFFIX))
            log.error(
                "%s does not decode (%s): kept as %s; %s is Pending until its next run",
                path,
                exc,
                aside,
                host,
            )
            for key in [k for k in self._summaries if k[0] == host]:
                del self._summaries[key]
            return {}, {}

    # -- history --------------------------------------------------------------------

    def _append_history(self, report: Report) -> None:
        line = json.dumps(_history_entry(report), separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.history_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            new = os.lseek(fd, 0, os.SEEK_END) == 0
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.directory)

    def history(self, host: str, configuration: str | None = None) -> list[dict[str, Any]]:
        """The host's reports (without resources), oldest first."""
        with self._lock:
            parsed = read_jsonl(self.history_path, _parse_history)
        if parsed.damage:
            keep_damaged(self.history_path, parsed.damage)
        return [
            e
            for e in parsed.items
            if e["host"] == host and configuration in (None, e["configuration"])
        ]

    def apply_retention(self, now: float | None = None, days: float | None = None) -> int:
        """Drop history older than `days` (default 30); the latest reports stay."""
        cutoff = (time.time() if now is None else now) - DAY * (
            self.retention_days if days is None else days
        )
        with self._lock:
            parsed = read_jsonl(self.history_path, _parse_history)
            kept = [e for e in parsed.items if e["time"] >= cutoff]
            removed = len(parsed.items) - len(kept)
            if removed:
                data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in kept)
                write_atomic(self.history_path, data)
        return removed


def _summary(report: Report, applied: str) -> Summary:
    return Summary(
        report.status, report.time, report.drifted, report.job_id, report.digest, applied
    )


def _history_entry(report: Report) -> dict[str, Any]:
    return {
        "host": report.host,
        "configuration": report.configuration,
        "kind": report.kind,
        "status": str(report.status),
        "time": report.time,
        "drifted": report.drifted,
        "job_id": report.job_id,
        "intentional": report.intentional,
    }


def _parse_history(line: Line) -> dict[str, Any]:
    entry = json.loads(line.raw)
    if not isinstance(entry, dict) or not {"host", "configuration", "time"} <= entry.keys():
        raise ValueError("not a history entry")
    return entry
