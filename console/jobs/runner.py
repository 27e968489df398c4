"""The job runner: a FIFO queue, concurrency limits, timeouts, stop, stream capture.

A host run connects before it takes its host's slot (a host that does not answer holds
no slot), the job's time limit bounds each host run whole (connect included), and any
exception in one host run fails that host run alone, with the reason.

Limits are two: how many jobs run at once (`max_jobs`; later jobs stay Queued and
start in order) and how many host runs may use one host at once
(`max_runs_per_host`; a host run waiting for its host stays Queued inside its
Running job). A child job (started by a running job, which waits for it) is exempt
from both where its ancestors hold them: it may start beyond `max_jobs` and may use a
host its parent is running on, since holding it back would deadlock parent and child.

Writes go through a `StoreWriter` (batched, off the loop). Starting is awaited until
durable before any host command runs, so recovery (which re-queues Queued jobs and
fails the others) can never run a job twice. Running and host-level changes are
coalesced (`save_later`): after a crash the engine fails every unfinished job anyway,
and 40 writes per 20-host job would be wasted. Final states are staged at once and
durable within one sync (`save_soon`), with the job's stream file synced in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import secrets
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterator, Mapping
from typing import Any

from console.errors import Cancelled, HostError, OpsError, TimedOut
from console.inventory.model import Host
from console.jobs.events import EngineEvent, EventHub
from console.jobs.host_run import (
    GroupRuns,
    RunCallbacks,
    Work,
    end_run,
    execute,
    queued_for_group,
    record_exit,
    started_on_worker,
)
from console.jobs.model import (
    INTERNAL_ERROR_KIND,
    INTERRUPTED_KIND,
    NOT_IN_INVENTORY_KIND,
    HostRun,
    Job,
    JobStatus,
    StreamRecord,
    Trigger,
)
from console.jobs.output_cap import DEFAULT_MAX_OUTPUT, OutputCap
from console.jobs.time_limit import TimeLimit
from console.runbooks.streams import classify
from console.store.writer import StoreWriter
from console.transports.base import ExitStatus, StreamName, Transport

log = logging.getLogger(__name__)

# A stream of one host run keeps at most this much text (Azure keeps 1 MiB per stream).
STREAM_CAP_BYTES = DEFAULT_MAX_OUTPUT
DISPATCH_RETRY = 1.0  # seconds before dispatching again after an unexpected error


TransportFor = Callable[[Host], Transport]
HostsFor = Callable[[list[str]], dict[str, Host]]


class JobRunner:
    def __init__(
        self,
        writer: StoreWriter,
        events: EventHub,
        transport_for: TransportFor,
        hosts_for: HostsFor,
        *,
        max_jobs: int = 8,
        max_runs_per_host: int = 1,
        local_env: Mapping[str, str] | None = None,
        mask: Callable[[str], str] | None = None,
        groups: GroupRuns | None = None,
    ) -> None:
        self._writer = writer
        self._groups = groups
        self._store = writer.store
        self._events = events
        self._transport_for = transport_for
        self._hosts_for = hosts_for
        self.max_jobs = max_jobs
        self.max_runs_per_host = max_runs_per_host
        self._queue: deque[tuple[Job, Work, float | None]] = deque()
        self._queued_children = 0  # child jobs in the queue (they may skip max_jobs)
        self._wakeup = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._jobs: dict[str, Job] = {}  # live copies of queued and running jobs
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._slot_holders: dict[str, set[str]] = {}  # host -> ids of jobs holding its slot
        self._local_env = dict(local_env or {})
        # Every text a job records (stream lines, host errors, job reasons) goes through
        # `mask` first (console.assets.masking): a secret is never stored or published.
        self.mask: Callable[[str], str] = mask or _unmasked
        # job id -> the random token its local host runs get (OPS_JOB_TOKEN): a request
        # to start a child job must show it (see `is_parent`); never stored.
        self._child_tokens: dict[str, str] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._resuming: dict[str, set[str]] = {}  # job id -> hosts followed on (resume)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._dispatch_forever(), name="job-dispatch")

    async def close(self, grace: float = 0.0, reason: str = "engine stopped") -> None:
        """Stop dispatching; give running jobs `grace` seconds, then stop them. The
        owner of the writer flushes it afterwards."""
        if self._loop_task:
            self._loop_task.cancel()
        if self._running and grace > 0:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for job_id in list(self._running):
            await self.stop(job_id, reason=reason)

    # ----------------------------------------------------------------- queries
    def live_job(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        return job.copy() if job else None

    def active_jobs(self) -> list[Job]:
        return [job.copy() for job in self._jobs.values()]

    def is_parent(self, job_id: str, token: str) -> bool:
        """True when `job_id` is running and `token` is the one its host runs were given:
        only then may a request start a child of it (exempt from `max_jobs`)."""
        expected = self._child_tokens.get(job_id)
        return (
            expected is not None
            and job_id in self._running
            and hmac.compare_digest(expected.encode(), token.encode())
        )

    # ----------------------------------------------------------------- commands
    def enqueue(self, job: Job, work: Work, timeout: float | None = None) -> None:
        """Queue a job that is already stored durably as Queued."""
        self._jobs[job.id] = job
        self._queue.append((job, work, timeout))
        self._queued_children += self._parent_of(job) is not None
        self._wakeup.set()

    def resume(self, job: Job, work: Work, hosts: Collection[str], reason: str) -> None:
        """Follow again a job an engine crash left running, whose runs on `hosts` had
        been handed to worker groups (they go on without the engine); its other
        unfinished host runs died with the engine and fail with `reason`."""
        for name, run in job.host_runs.items():
            if name not in hosts:
                self._end_run(run, JobStatus.FAILED, INTERRUPTED_KIND, reason)
        self._resuming[job.id] = set(hosts)
        self._jobs[job.id] = job
        task = asyncio.create_task(self._run_job(job, work, None), name=f"job-{job.id}")
        self._running[job.id] = task
        task.add_done_callback(functools.partial(self._on_job_done, job.id))

    async def stop(self, job_id: str, reason: str = "stopped by user") -> Job | None:
        """Stop a queued or running job; running host runs end their remote processes."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.status is JobStatus.QUEUED:
            queued = len(self._queue)
            self._queue = deque(item for item in self._queue if item[0].id != job_id)
            if len(self._queue) < queued:
                self._queued_children -= self._parent_of(job) is not None
            for run in job.host_runs.values():
                run.transition(JobStatus.STOPPED)
            job.transition(JobStatus.STOPPED, reason)
            self._finish(job)
            return job.copy()
        if job.status in (JobStatus.STARTING, JobStatus.RUNNING):
            job.transition(JobStatus.STOPPING, reason)
            self._writer.save_soon(job)
            self._publish(job)
        task = self._running.get(job_id)
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return job.copy()

    # ----------------------------------------------------------------- internals
    async def _dispatch_forever(self) -> None:
        """Start queued jobs as slots free up. A bug met while dispatching is logged and
        dispatching goes on a moment later: a dead dispatcher would leave every job
        Queued forever while the engine looks healthy."""
        while True:
            try:
                self._start_startable()
            except Exception:
                log.exception("dispatching queued jobs failed; trying again")
                await asyncio.sleep(DISPATCH_RETRY)
                continue
            self._wakeup.clear()
            await self._wakeup.wait()

    def _start_startable(self) -> None:
        while (item := self._next_startable()) is not None:
            job, work, timeout = item
            task = asyncio.create_task(self._run_job(job, work, timeout), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._on_job_done, job.id))

    def _next_startable(self) -> tuple[Job, Work, float | None] | None:
        """The oldest queued job while a job slot is free; otherwise the oldest child
        of a running job (its parent is waiting for it). Looking for a child only when
        one is queued keeps a webhook burst's long queue from being scanned per job."""
        if not self._queue or (len(self._running) >= self.max_jobs and not self._queued_children):
            return None
        for index, item in enumerate(self._queue):
            if len(self._running) < self.max_jobs or self._parent_of(item[0]) in self._running:
                del self._queue[index]
                self._queued_children -= self._parent_of(item[0]) is not None
                return item
        return None

    @staticmethod
    def _parent_of(job: Job) -> str | None:
        return job.trigger_ref if job.trigger is Trigger.PARENT else None

    def _inherits_slot(self, job: Job, host: str) -> bool:
        """True when an ancestor of `job` holds `host`'s slot (and waits for `job`)."""
        holders = self._slot_holders.get(host, set())
        ancestor = self._parent_of(job)
        seen: set[str] = set()
        while ancestor is not None and ancestor not in seen:
            if ancestor in holders:
                return True
            seen.add(ancestor)
            parent = self._jobs.get(ancestor)
            ancestor = self._parent_of(parent) if parent is not None else None
        return False

    @contextlib.asynccontextmanager
    async def _use_host(self, job: Job, host: str) -> AsyncIterator[None]:
        """Hold one of `host`'s run slots (unless an ancestor holds one for this job)."""
        if self._inherits_slot(job, host):
            yield
            return
        async with self._host_slot(host):
            holders = self._slot_holders.setdefault(host, set())
            holders.add(job.id)
            try:
                yield
            finally:
                holders.discard(job.id)

    def _on_job_done(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wakeup.set()

    def _touch(self, job: Job) -> None:
        self._writer.save_later(job)
        self._publish(job)

    def _publish(self, job: Job) -> None:
        self._events.publish(EngineEvent(job_id=job.id, job=job.copy()))

    def _touch_run(self, job: Job, run: HostRun) -> None:
        """A host run changed: only that run is published (O(1) in the job's size)."""
        self._writer.save_later(job)
        self._events.publish(EngineEvent(job_id=job.id, run=run.copy()))

    def _finish(self, job: Job, ran: bool = False) -> None:
        """Record the final state (with the job's streams, if it ran) and let go."""
        self._child_tokens.pop(job.id, None)
        self._writer.save_soon(job, sync_streams=ran)
        self._publish(job)
        self._jobs.pop(job.id, None)

    async def _run_job(self, job: Job, work: Work, timeout: float | None) -> None:
        self._child_tokens[job.id] = secrets.token_hex(16)
        try:
            if job.id not in self._resuming:
                job.transition(JobStatus.STARTING)
                self._publish(job)
                await self._writer.save(job)  # durable before any host command runs
            hosts = self._hosts_for(job.hosts)
            if job.status is not JobStatus.RUNNING:
                job.transition(JobStatus.RUNNING)
            self._touch(job)
            limit = TimeLimit(timeout)
            unfinished = [name for name in job.hosts if not job.host_runs[name].status.finished]
            await _all_or_none(
                self._run_host(job, name, hosts.get(name), work, limit) for name in unfinished
            )
            timed_out = any(r.error_kind == TimedOut.kind for r in job.host_runs.values())
            reason = f"timed out after {timeout:g} s" if timeout is not None and timed_out else None
            job.transition(job.outcome(), reason)
        except asyncio.CancelledError:
            self._end_unfinished(job, JobStatus.STOPPED, Cancelled.kind, "the job was stopped")
            if job.status is not JobStatus.STOPPING:
                job.transition(JobStatus.STOPPING)
            job.transition(JobStatus.STOPPED)
        except Exception as exc:  # a bug must fail the job, never the engine
            self._log_bug(f"job {job.id} crashed", exc)
            self._end_unfinished(job, JobStatus.FAILED, INTERNAL_ERROR_KIND, str(exc))
            if not job.status.finished:
                job.transition(JobStatus.FAILED, self.mask(f"internal error: {exc}"))
        finally:
            self._resuming.pop(job.id, None)
            self._finish(job, ran=True)

    def _end_unfinished(self, job: Job, final: JobStatus, kind: str, message: str) -> None:
        for run in job.host_runs.values():
            self._end_run(run, final, kind, message)

    def _log_bug(self, what: str, exc: BaseException) -> None:
        """Log a bug with its traceback, masked: the message may quote a secret."""
        log.error("%s\n%s", what, self.mask("".join(traceback.format_exception(exc))).rstrip())

    def _end_run(self, run: HostRun, final: JobStatus, kind: str, message: str) -> None:
        """`end_run` with the message masked: an error may quote what a host printed."""
        end_run(run, final, kind, self.mask(message))

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.max_runs_per_host)
        return slot

    async def _run_host(
        self, job: Job, name: str, host: Host | None, work: Work, limit: TimeLimit
    ) -> None:
        """One host's run. Whatever goes wrong ends this host run alone, with the reason:
        the other hosts of the job go on."""
        run = job.host_runs[name]
        if host is None:
            self._end_run(
                run, JobStatus.FAILED, NOT_IN_INVENTORY_KIND, "the host left the inventory"
            )
            self._touch_run(job, run)
            return
        capture = _StreamCapture(self, job, name)
        try:
            # An engine step runs here even on a routed host: its transport sends each
            # command to the group (console.workers.worker_transport).
            routed = self._groups is not None and work.step is None
            group = self._groups.group_of(host) if routed and self._groups else None
            if group is not None:
                resume = name in self._resuming.get(job.id, ())
                status = await self._run_on_group(
                    job, run, host, group, work, limit, capture, resume
                )
            else:
                status = await self._run_here(job, run, host, work, limit, capture)
            record_exit(run, status)
        except Cancelled as exc:
            self._end_run(run, JobStatus.STOPPED, exc.kind, exc.detail)
        except HostError as exc:
            self._end_run(run, JobStatus.FAILED, exc.kind, exc.detail)
            if work.host_failed is not None:
                await work.host_failed(host, exc)
        except OpsError as exc:  # e.g. a runbook's asset deleted since the job was made
            self._end_run(run, JobStatus.FAILED, HostError.kind, str(exc))
        except Exception as exc:  # a bug (a plugin's, say) fails this host run, not the job
            self._log_bug(f"job {job.id}: the run on {name} failed unexpectedly", exc)
            self._end_run(
                run, JobStatus.FAILED, INTERNAL_ERROR_KIND, f"{type(exc).__name__}: {exc}"
            )
        finally:
            capture.flush()
        self._touch_run(job, run)

    async def _run_here(
        self,
        job: Job,
        run: HostRun,
        host: Host,
        work: Work,
        limit: TimeLimit,
        capture: _StreamCapture,
    ) -> ExitStatus:
        """Run on the host with the engine's own transport."""
        transport = self._transport_for(host)
        # Connect first: a host that does not answer never holds the host's run slot.
        await limit.bound(transport.connect(), host, "not connected within")
        async with self._use_host(job, host.name):
            run.transition(JobStatus.STARTING)
            run.transition(JobStatus.RUNNING)
            self._touch_run(job, run)
            extra_env = (
                {**self._local_env, **self._child_env(job, host)}
                if host.connection == "local"
                else {}
            )
            return await execute(transport, host, work, limit, capture.on_line, extra_env)

    def _child_env(self, job: Job, host: Host) -> dict[str, str]:
        """What a local run needs to start child runbooks of its job (`opsconsole run`
        inside it): the job and its token. A run on another host gets none."""
        if host.connection != "local":
            return {}
        return {"OPS_JOB_ID": job.id, "OPS_JOB_TOKEN": self._child_tokens[job.id]}

    async def _run_on_group(
        self,
        job: Job,
        run: HostRun,
        host: Host,
        group: str,
        work: Work,
        limit: TimeLimit,
        capture: _StreamCapture,
        resume: bool,
    ) -> ExitStatus:
        """Hand the run to a worker group; its events drive this host run as a local
        run's transport would (see console.workers.dispatch)."""

        assert self._groups is not None
        touch = functools.partial(self._touch_run, job, run)
        calls = RunCallbacks(
            capture.on_line,
            functools.partial(started_on_worker, run, touch),
            functools.partial(queued_for_group, run, touch),
            capture.flush,
        )
        try:
            async with self._use_host(job, host.name):
                return await self._groups.run(
                    job.id, host, group, work, limit, calls, self._child_env(job, host), resume
                )
        finally:
            if run.error_kind is None:
                run.error = None  # no longer queued: the caller records how it ended


def _unmasked(text: str) -> str:
    return text


async def _all_or_none(runs: Iterator[Coroutine[Any, Any, None]]) -> None:
    """Run the host runs concurrently. If this is cancelled (the job is stopped) or
    fails, every host run still going is cancelled and awaited, which ends its remote
    process: a job that ends never leaves a host run behind."""
    tasks = [asyncio.ensure_future(run) for run in runs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _StreamCapture:
    """Turns transport lines into stream records: classify, cap, store, publish."""

    def __init__(self, runner: JobRunner, job: Job, host: str) -> None:
        self._runner = runner
        self._job = job
        self._host = host
        self._caps: dict[str, OutputCap] = {}
        self._pending: list[StreamRecord] = []

    def on_line(self, source: StreamName, raw: bytes) -> None:
        text = self._runner.mask(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        stream, text = classify(source, text)
        cap = self._caps.get(stream)
        if cap is None:
            cap = self._caps[stream] = OutputCap(STREAM_CAP_BYTES)
        kept = cap.add(text)
        if not kept:
            return
        now = time.time()
        self._pending += [StreamRecord(now, self._host, stream, line) for line in kept]
        if len(self._pending) >= 256:
            self.flush()
        else:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        if not self._pending:
            return
        records, self._pending = self._pending, []
        self._runner._store.append_streams(self._job.id, records)
        self._runner._events.publish(EngineEvent(job_id=self._job.id, records=records))
