"""How far the engine got with each routed host run: the JetStream sequence of the
last event it applied, so that an engine started after a crash follows the run again
from the next event, storing every line once and in order.

One small append-only file per job (`<data dir>/worker-runs/<job id>`), a line
`<sequence> <host>` per applied event and `end <host>` when the run ended; appended
after the event's lines reached the job's stream file (both flushed to the OS, so a
killed engine loses neither). A machine crash between the two appends can replay one
event's lines once more.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TextIO

FOLDER = "worker-runs"


class RunProgress:
    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir / FOLDER
        self._dir_made = False  # made once: an append per event need not ask again
        self._open: dict[str, set[str]] = {}  # job id -> hosts handed over, not ended
        # job id -> its file, kept open while its runs are followed: an append per event
        # is then one write, not an open, a write and a close on the engine's loop.
        self._files: dict[str, TextIO] = {}

    def handed_over(self, job_id: str, host: str, resumed: bool) -> None:
        """A run of `job_id` on `host` is (again, if `resumed`) followed from now on."""
        self._open.setdefault(job_id, set()).add(host)
        if not resumed:
            self.record(job_id, host, 0)

    def run_ended(self, job_id: str, host: str) -> None:
        """Its run ended; the job's file goes once none of its runs is followed."""
        self.ended(job_id, host)
        hosts = self._open.get(job_id, set())
        hosts.discard(host)
        if not hosts:
            self._open.pop(job_id, None)
            self.forget(job_id)

    def _path(self, job_id: str) -> Path:
        return self._dir / job_id

    def record(self, job_id: str, host: str, sequence: int) -> None:
        self._append(job_id, f"{sequence} {host}\n")

    def ended(self, job_id: str, host: str) -> None:
        self._append(job_id, f"end {host}\n")

    def _append(self, job_id: str, line: str) -> None:
        out = self._files.get(job_id)
        if out is None:
            if not self._dir_made:
                self._dir.mkdir(mode=0o700, exist_ok=True)
                self._dir_made = True
            # Line-buffered: each line reaches the OS as it is written, as a close did.
            out = self._files[job_id] = self._path(job_id).open("a", buffering=1)
        out.write(line)

    def unfinished(self, job_id: str) -> dict[str, int]:
        """Host -> last applied sequence (0: none yet), of the routed runs not ended."""
        try:
            lines = self._path(job_id).read_text().splitlines()
        except FileNotFoundError:
            return {}
        last: dict[str, int] = {}
        for line in lines:
            mark, _, host = line.partition(" ")
            if mark == "end":
                last.pop(host, None)
            elif mark.isdigit():
                last[host] = int(mark)
        return last

    def has(self, job_id: str) -> bool:
        return self._path(job_id).exists()

    def forget(self, job_id: str) -> None:
        self._close(job_id)
        with contextlib.suppress(FileNotFoundError):
            self._path(job_id).unlink()

    def close(self) -> None:
        """Close the open files (the engine stops); they stay for the next start."""
        for job_id in list(self._files):
            self._close(job_id)

    def _close(self, job_id: str) -> None:
        out = self._files.pop(job_id, None)
        if out is not None:
            out.close()
