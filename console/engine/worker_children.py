"""What a runbook running on a worker may ask of the engine: start a child runbook of
its own job, then read and stop that child, and list the runbooks (for a child's
default target). The requests arrive sealed over NATS (`console.workers.child_requests`);
this answers them as the control API would, with the same JSON and statuses, so the
`opsconsole run` on the worker cannot tell it is not attached to an engine.

Every request carries the OPS_JOB_TOKEN of the job it runs in, checked as for a local
child; a child is always started as a child (trigger `parent`) of that job, whatever the
request says, and only that job's children can be read or stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from console.engine.client import EngineClient
from console.engine.wire import runbook_to_dict
from console.errors import OpsError, UsageError, error_status, error_to_dict
from console.jobs.model import Job, Trigger
from console.workers.protocol import ChildReply, ChildRequest

_CHILD_PATH = re.compile(r"^/jobs/(?P<id>[^/]+)(?P<rest>/streams|/stop)?$")
# (method, what follows /jobs/ID) of the calls on a child: read it, its output, stop it
_CHILD_CALLS = {("GET", None), ("GET", "/streams"), ("POST", "/stop")}


class WorkerChildren:
    """The `console.workers.child_requests.ChildHandler` of an engine."""

    def __init__(
        self, engine: EngineClient, check_parent: Callable[[str | None, str | None], None]
    ) -> None:
        self._engine = engine
        self._check_parent = check_parent  # raises unless the job runs with that token

    async def __call__(self, group: str, request: ChildRequest) -> ChildReply:
        try:
            self._check_parent(request.job_id, request.token)
            status, data = await self._route(request)
        except OpsError as exc:
            return ChildReply(error_status(exc), {"error": error_to_dict(exc)})
        return ChildReply(status, data)

    async def _route(self, request: ChildRequest) -> tuple[int, Any]:
        method, path = request.method, request.path
        if (method, path) == ("GET", "/runbooks"):
            return 200, [runbook_to_dict(info) for info in await self._engine.runbooks()]
        if (method, path) == ("POST", "/jobs"):
            return 201, (await self._start(request)).to_dict()
        match = _CHILD_PATH.match(path)
        if match is None or (method, match["rest"]) not in _CHILD_CALLS:
            raise UsageError(
                f"{method} {path}: a runbook on a worker can only start, follow and stop "
                "child runbooks (`opsconsole run`)"
            )
        child = await self._child(match["id"], request.job_id)
        if match["rest"] == "/streams":
            records = await self._engine.streams(
                child.id, host=request.query.get("host"), stream=request.query.get("stream")
            )
            return 200, [record.to_dict() for record in records]
        if match["rest"] == "/stop":
            return 200, (await self._engine.stop_job(child.id)).to_dict()
        return 200, child.to_dict()

    async def _start(self, request: ChildRequest) -> Job:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("runbook"), str) or not isinstance(body.get("pattern"), str):
            raise UsageError("a child job needs a runbook and a pattern")
        return await self._engine.start_job(
            body["runbook"],
            body["pattern"],
            body.get("parameters") or {},
            trigger=Trigger.PARENT,
            trigger_ref=request.job_id,
            timeout=body.get("timeout"),
            parent_token=request.token,
        )

    async def _child(self, job_id: str, parent: str) -> Job:
        job = await self._engine.job(job_id)
        if job.trigger is not Trigger.PARENT or job.trigger_ref != parent:
            raise UsageError(f"job {job_id} is not a child of job {parent}")
        return job
