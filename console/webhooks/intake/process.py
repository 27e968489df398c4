"""The engine's side of webhook intake: it runs the intake worker and imports its journal.

`IntakeProcess` starts the worker on a socket the engine bound (so a busy port is the
engine's error at once, and the port stays bound if the worker dies), keeps the
worker's webhook table current (`push` returns once the worker enforces the change),
relays the worker's log lines into the engine's log, restarts it if it dies, and hands
every durable journal record to the engine (`import_records`). A journal file is
deleted only after `flush` has made the jobs imported from it durable in the store.

While requests keep coming, importing gets at most `IMPORT_SHARE` of the engine's time:
the records are durable already, and a flood must neither take the CPU the worker
needs to answer it nor hold up schedules and running jobs. The backlog is imported at
full speed once the flood stops, and `import_pending` imports one job at once when
someone asks for it (`jobs show ID` right after its 202).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import OpsError
from console.isolated import python_module_command
from console.store.damage import append_once
from console.webhooks.http import BODY_TIMEOUT, MAX_BODY
from console.webhooks.intake.journal import (
    IntakeRecord,
    claim,
    intake_dir,
    journal_files,
    read_records,
    read_records_from,
    rejected_path,
)
from console.webhooks.listener import HEADER_TIMEOUT

log = logging.getLogger("console.webhooks.intake")

ACK_TIMEOUT = 10.0  # seconds the worker may take to apply a webhook change
STOP_TIMEOUT = 15.0  # seconds a stopping worker may take to finish its requests
RESTART_DELAYS = (0.2, 1.0, 5.0, 30.0)  # after consecutive failures
HEALTHY_AFTER = 60.0  # seconds of life after which a crash is not "consecutive"
IMPORT_SLICE = 64  # records imported between two turns of the event loop
IMPORT_SHARE = 0.1  # of the engine's time spent importing while requests keep coming
BUSY_WINDOW = 0.2  # seconds after the last durable batch the worker counts as busy

# Imports records as jobs; returns those it could not import, each with the reason.
ImportRecords = Callable[[list[IntakeRecord]], Awaitable[list[tuple[IntakeRecord, str]]]]
Flush = Callable[[], Awaitable[None]]
Table = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class IntakeConfig:
    data_dir: Path
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str | None = None
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_body: int = MAX_BODY


class IntakeProcess:
    """One engine's intake worker, restarted when it dies, and its journal's importer."""

    def __init__(
        self,
        sock: socket.socket,
        config: IntakeConfig,
        table: Table,
        import_records: ImportRecords,
        flush: Flush,
    ) -> None:
        self._sock = sock
        self._config = config
        self._table = table
        self._import = import_records
        self._flush = flush
        self._dir = intake_dir(config.data_dir)
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._seq = 0  # the latest table version
        self._acked = 0  # the version the running worker enforces
        self._acked_changed = asyncio.Event()
        self._notices: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self._file: str | None = None  # the journal file being imported, and how far
        self._offset = 0
        self._last_notice = 0.0  # loop time of the worker's latest durable batch

    async def start(self) -> None:
        """Import what a previous engine left in the journal, then start the worker."""
        for path in journal_files(self._dir):
            await claim(path, STOP_TIMEOUT)
            await self._finish_file(path, 0)
        self._supervisor = asyncio.create_task(self._supervise(), name="intake worker")

    async def push(self) -> None:
        """Send the current webhook table; returns once the worker enforces it."""
        self._seq += 1
        wanted = self._seq
        self._send_table()
        try:
            async with asyncio.timeout(ACK_TIMEOUT):
                while self._acked < wanted:
                    self._acked_changed.clear()
                    await self._acked_changed.wait()
        except TimeoutError:
            raise OpsError(
                f"the webhook listener did not confirm the change within {ACK_TIMEOUT:g} s; "
                "it is stored and applies when the listener is back"
            ) from None

    async def import_pending(self, job_id: str) -> bool:
        """Import the job `job_id` now if it is in the journal but not imported yet
        (its 202 may reach the caller before the worker's notice reaches us). The
        in-order import skips it later, as a job already stored."""
        needle = b'{"id":' + json.dumps(job_id).encode() + b","
        for path in journal_files(self._dir):
            start = self._offset if path.name == self._file else 0
            try:
                with path.open("rb") as file:
                    file.seek(start)
                    data = file.read()
            except FileNotFoundError:  # retired meanwhile: imported
                continue
            at = data.find(needle)
            if at >= 0 and (at == 0 or data[at - 1 : at] == b"\n"):
                line = data[at : data.find(b"\n", at) + 1]
                records = read_records_from(line)
                if records:
                    await self._import_slice(records)
                    return True
        return False

    async def stop(self) -> None:
        """Stop taking requests, let the worker answer the ones in progress, and import
        every record it acknowledged."""
        self._stopping = True
        self._stop_requested.set()
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._supervisor is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._supervisor), STOP_TIMEOUT)
            except TimeoutError:
                log.error("the intake worker did not stop in %g s; killing it", STOP_TIMEOUT)
                if proc is not None and proc.returncode is None:
                    proc.kill()
                await self._supervisor

    # ------------------------------------------------------------------ the worker
    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            began = asyncio.get_running_loop().time()
            try:
                code = await self._run_worker()
            except Exception:  # a bug here must not end webhook intake for good
                log.exception("the webhook intake supervisor failed")
                code = await self._end_worker()
            if self._stopping:
                break
            if asyncio.get_running_loop().time() - began > HEALTHY_AFTER:
                failures = 0  # a crash after a long healthy life: restart at once
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            log.error(
                "the webhook intake worker exited (code %s); restarting it in %g s",
                code,
                delay,
                extra={"exit_code": code},
            )
            with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
                await asyncio.wait_for(self._stop_requested.wait(), delay)

    async def _run_worker(self) -> int | None:
        """One worker's life: start it, serve, and import all it acknowledged."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *python_module_command("console.webhooks.intake.worker"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(self._sock.fileno(),),
            )
        except OSError as exc:  # out of processes or file descriptors: try again later
            log.error("cannot start the webhook intake worker: %s", exc)
            return None
        self._proc = proc
        self._acked = 0
        log.info("webhook intake worker started", extra={"pid": proc.pid})
        self._write({"config": self._worker_config()})
        self._send_table()
        if self._stopping and proc.stdin is not None:
            proc.stdin.close()
        importer = asyncio.create_task(self._import_notices(), name="intake import")
        relay = asyncio.create_task(_relay_logs(proc.stderr), name="intake logs")
        await self._read_messages(proc.stdout)
        await self._notices.put(None)
        await importer
        await relay
        code = await proc.wait()
        # Whatever reached the disk before it ended, in files it told of or not.
        for path in journal_files(self._dir):
            await self._finish_file(path, self._offset if path.name == self._file else 0)
        return code

    async def _end_worker(self) -> int | None:
        """Kill a worker whose supervision failed: the next one must not share its
        socket with it. Requests it had not acknowledged are retried by their senders."""
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            proc.kill()
        return await proc.wait()

    def _worker_config(self) -> dict[str, Any]:
        c = self._config
        return {
            "fd": self._sock.fileno(),
            "data_dir": str(c.data_dir),
            "intake_dir": str(self._dir),
            "tls_cert": c.tls_cert,
            "tls_key": c.tls_key,
            "public_url": c.public_url,
            "header_timeout": c.header_timeout,
            "body_timeout": c.body_timeout,
            "max_body": c.max_body,
        }

    def _send_table(self) -> None:
        self._write({"webhooks": self._table(), "seq": self._seq})

    def _write(self, message: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError):  # it died: the restart sends the table
            proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def _read_messages(self, stdout: asyncio.StreamReader | None) -> None:
        assert stdout is not None
        while line := await stdout.readline():
            try:
                self._on_message(json.loads(line))
            except (ValueError, TypeError, KeyError):
                log.error("the intake worker wrote a line that is not a message: %.200r", line)

    def _on_message(self, message: dict[str, Any]) -> None:
        if "durable" in message:
            name, end = message["durable"]
            self._notices.put_nowait((str(name), int(end)))
            self._last_notice = asyncio.get_running_loop().time()
        elif "ack" in message:
            self._acked = max(self._acked, int(message["ack"]))
            self._acked_changed.set()
        elif "error" in message:
            log.error("webhooks are not served: %s", message["error"])

    # ------------------------------------------------------------------ the journal
    async def _import_notices(self) -> None:
        """Import each range the worker reports durable. A range that fails (a disk
        error, a bug) is logged and tried again with the next notice, or when the
        worker's life ends: the importer itself never stops before the worker."""
        while (notice := await self._notices.get()) is not None:
            try:
                await self._import_notice(*notice)
            except Exception:
                log.exception("importing webhook requests failed; retrying with the next ones")

    async def _import_notice(self, name: str, end: int) -> None:
        if name != self._file:
            if self._file is not None:  # a new file: the previous one is complete
                await self._finish_file(self._dir / self._file, self._offset)
            self._file, self._offset = name, 0
        if end > self._offset:
            records, offset = read_records(self._dir / name, self._offset, end)
            await self._import_paced(records)
            self._offset = offset

    async def _finish_file(self, path: Path, offset: int) -> None:
        """Import a complete journal file from `offset` on, then delete it once its jobs
        are durable in the store. If that fails the file stays, and is imported again
        (jobs already stored are skipped) when the worker restarts or the engine starts."""
        try:
            records, _ = read_records(path, offset)  # none if the file is gone
            await self._import_paced(records)
            await self._flush()
        except Exception:
            log.exception("could not import %s; it is kept and imported later", path)
            return
        path.unlink(missing_ok=True)
        if self._file == path.name:
            self._file, self._offset = None, 0

    async def _import_paced(self, records: list[IntakeRecord]) -> None:
        """Import in slices; while the worker is busy, rest after each slice so that
        importing takes IMPORT_SHARE of the time (see the module docstring)."""
        loop = asyncio.get_running_loop()
        for first in range(0, len(records), IMPORT_SLICE):
            began = loop.time()
            await self._import_slice(records[first : first + IMPORT_SLICE])
            busy = began - self._last_notice < BUSY_WINDOW and not self._stopping
            await asyncio.sleep((loop.time() - began) * (1 / IMPORT_SHARE - 1) if busy else 0)

    async def _import_slice(self, records: list[IntakeRecord]) -> None:
        """Import records; those the engine could not import are kept in
        `rejected.jsonl` (durably, before their journal file may go) and logged once."""
        rejected = await self._import(records)
        if not rejected:
            return
        path = rejected_path(self._dir)
        why = {record.line or record.to_line(): (record.id, reason) for record, reason in rejected}
        for line in append_once(path, list(why)):
            job_id, reason = why[line]
            log.error(
                "a webhook request could not be imported; its job failed and the request "
                "is kept in %s: %s",
                path,
                reason,
                extra={"job_id": job_id},
            )


async def _relay_logs(stderr: asyncio.StreamReader | None) -> None:
    """The worker's JSON log lines, logged again by the engine (so they reach the
    engine's log wherever it goes: stderr for serve, not the console's screen)."""
    assert stderr is not None
    while line := await stderr.readline():
        text = line.decode("utf-8", "replace").rstrip()
        try:
            record = json.loads(text)
            level = logging.getLevelName(str(record.pop("level", "info")).upper())
            logger = logging.getLogger(str(record.pop("logger", "console.webhooks.intake")))
            event = str(record.pop("event", ""))
            record.pop("time", None)
            logger.log(level if isinstance(level, int) else logging.INFO, event, extra=record)
        except Exception:  # not a log line of ours: relay it as text
            if text:
                log.error("intake worker: %s", text)
