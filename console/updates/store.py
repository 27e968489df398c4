"""Assessments and deployment results, under `<data_dir>/updates/`.

Layout::

    updates/assessments/<host>.json   the host's latest assessment, replaced atomically
    updates/runs/<job id>.jsonl       one line per host as its deployment ends

The summary of 10,000 hosts is read often (the Updates pane, `updates summary`), so
the latest assessments are kept in memory once read at open (a few KB per host). A
run's results are appended as each host finishes (a crash keeps those already
written; a torn last line is cut at the next read). A file that does not decode is
set aside as `.damaged` and logged; that host reads as not assessed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from urllib.parse import quote

from console.store.atomic import remove_debris, write_atomic
from console.store.damage import fsync_dir, keep_damaged, set_aside
from console.store.jsonl import Line, read_jsonl
from console.updates.codec import (
    assessment_from_dict,
    assessment_to_dict,
    host_result_from_dict,
    host_result_to_dict,
)
from console.updates.model import Assessment, HostDeployment

log = logging.getLogger(__name__)


class UpdateStore:
    """The latest assessment of each host and the results of deployment runs."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = Path(data_dir) / "updates"
        self.assessments_dir = self.directory / "assessments"
        self.runs_dir = self.directory / "runs"
        for directory in (self.assessments_dir, self.runs_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_debris(self.assessments_dir)
        self._lock = threading.RLock()
        self._latest: dict[str, Assessment] = {}
        for path in sorted(self.assessments_dir.glob("*.json")):
            assessment = self._read(path)
            if assessment is not None:
                self._latest[assessment.host] = assessment

    # -- assessments ----------------------------------------------------------------

    def record(self, assessment: Assessment) -> None:
        """Keep `assessment` as the host's latest; durable when it returns. A failed
        assessment keeps the last good list of updates beside its error, so a host
        whose lists are locked for a moment does not read as fully patched."""
        with self._lock:
            previous = self._latest.get(assessment.host)
            if assessment.error and previous is not None and not previous.error:
                assessment = Assessment(
                    assessment.host,
                    assessment.assessed,
                    previous.manager,
                    previous.updates,
                    previous.reboot_pending,
                    previous.reboot_packages,
                    assessment.error,
                )
            data = json.dumps(assessment_to_dict(assessment), ensure_ascii=False).encode()
            write_atomic(self._path(assessment.host), data)
            self._latest[assessment.host] = assessment

    def latest(self, host: str) -> Assessment | None:
        with self._lock:
            return self._latest.get(host)

    def all_latest(self) -> dict[str, Assessment]:
        with self._lock:
            return dict(self._latest)

    def _path(self, host: str) -> Path:
        quoted = quote(host, safe="-_.@")
        if quoted.startswith("."):
            quoted = "%2E" + quoted[1:]
        return self.assessments_dir / f"{quoted}.json"

    def _read(self, path: Path) -> Assessment | None:
        try:
            return assessment_from_dict(json.loads(path.read_bytes()))
        except (ValueError, KeyError, TypeError) as exc:
            aside = set_aside(path)
            log.error(
                "%s does not decode (%s): kept as %s; the host reads as not assessed",
                path,
                exc,
                aside,
            )
            return None

    # -- deployment runs ------------------------------------------------------------

    def add_result(self, job_id: str, result: HostDeployment) -> None:
        """Append one host's result of run `job_id`; durable when it returns."""
        path = self.runs_dir / f"{job_id}.jsonl"
        line = json.dumps(host_result_to_dict(result), ensure_ascii=False).encode() + b"\n"
        with self._lock:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                new = os.lseek(fd, 0, os.SEEK_END) == 0
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.runs_dir)

    def results(self, job_id: str) -> list[HostDeployment]:
        """The host results of run `job_id` so far, in the order hosts finished."""
        path = self.runs_dir / f"{job_id}.jsonl"
        with self._lock:
            parsed = read_jsonl(path, _parse_result)
        if parsed.damage:
            keep_damaged(path, parsed.damage)
        return parsed.items

    def forget_run(self, job_id: str) -> None:
        """Drop a run's results (retention removes its job)."""
        (self.runs_dir / f"{job_id}.jsonl").unlink(missing_ok=True)


def _parse_result(line: Line) -> HostDeployment:
    try:
        return host_result_from_dict(json.loads(line.raw))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a host result: {exc}") from None
