"""The messages between the engine and a worker group, and where they travel.

- An *order* (engine -> group): one host run to do, on the work-queue stream
  `OPSCONSOLE_ORDERS`, subject `opsconsole.orders.<group>`; its message id
  `<job id>.<host>` makes JetStream drop a second publish of the same host run.
- *Events* (worker -> engine): `started`, `lines`, `alive` and `ended`, on the limits
  stream `OPSCONSOLE_EVENTS`, one subject per host run, so the engine can replay one
  run's events from any sequence (after its own restart).
- *Control* (engine -> group, plain NATS): `stop` one host run.
- *Child requests* (worker -> engine, plain NATS request/reply, subject
  `opsconsole.children.<group>`): a runbook running on a worker starts a child
  runbook and follows it (`console.workers.child_relay`); the reply is sealed too.

Bodies are JSON (bytes in base64), then sealed (`console.workers.signing`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from console.errors import ConfigError
from console.inventory.model import Host

ORDERS_STREAM = "OPSCONSOLE_ORDERS"
EVENTS_STREAM = "OPSCONSOLE_EVENTS"
ORDERS_PREFIX = "opsconsole.orders"
EVENTS_PREFIX = "opsconsole.events"
# Where the events stream announces each event once it stored it (JetStream's republish,
# headers only: the subject's token and the stream sequence): the engine's doorbell.
STORED_PREFIX = "opsconsole.stored"
CONTROL_PREFIX = "opsconsole.control"
CHILDREN_PREFIX = "opsconsole.children"
EVENTS_MAX_AGE = 7 * 24 * 3600.0  # seconds a run's events stay replayable
DEDUP_WINDOW = 24 * 3600.0  # seconds a message id is remembered (orders and `started`)
ALIVE_INTERVAL = 5.0  # seconds of silence after which a running run sends `alive`
LOST_AFTER = 3 * ALIVE_INTERVAL  # silence after which the engine calls a worker lost
# Stands for the workdir in an order's command and environment: the engine builds the
# invocation, the worker makes the workdir on the host and puts its path in.
WORKDIR_PLACEHOLDER = "/opsconsole-workdir-placeholder-4f1c2a"
GROUP_VAR = "console_worker_group"
# The HTTP headers with which `opsconsole run` inside a job shows the job it runs in
# (OPS_JOB_ID, OPS_JOB_TOKEN) to a worker's child relay (console.workers.child_relay).
JOB_ID_HEADER = "Opsconsole-Job-Id"
JOB_TOKEN_HEADER = "Opsconsole-Job-Token"
RUN_ON_PREFIX = "run-on/"  # a job's host `run-on/g1`: any worker of g1, locally

_GROUP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

STARTED, LINES, ALIVE, ENDED = "started", "lines", "alive", "ended"


def check_group(name: str) -> str:
    """A group name usable as one NATS subject token and a consumer name."""
    if not _GROUP_NAME.match(name):
        raise ConfigError(
            f"worker group {name!r}: use 1-64 letters, digits, '-' or '_' "
            f"(the `{GROUP_VAR}` host var or --group / --run-on)"
        )
    return name


def run_on_pattern(group: str) -> str:
    """The target of a job run on one worker of `group` (`run --run-on`, a schedule's
    or webhook's target): a host of its own, the worker itself."""
    return f"{RUN_ON_PREFIX}{check_group(group)}"


def run_on_host(name: str) -> Host | None:
    """The host a run-on target stands for, or None when `name` is no such target."""
    if not name.startswith(RUN_ON_PREFIX):
        return None
    group = check_group(name[len(RUN_ON_PREFIX) :])
    return Host(name, {"ansible_connection": "local", GROUP_VAR: group})


def order_subject(group: str) -> str:
    return f"{ORDERS_PREFIX}.{group}"


def control_subject(group: str) -> str:
    return f"{CONTROL_PREFIX}.{group}"


def children_subject(group: str) -> str:
    return f"{CHILDREN_PREFIX}.{group}"


def order_id(job_id: str, host: str) -> str:
    return f"{job_id}.{host}"


def events_subject(order: str) -> str:
    """One subject per host run; the host name may hold dots, so it is hashed."""
    return f"{EVENTS_PREFIX}.{hashlib.sha256(order.encode()).hexdigest()[:32]}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


@dataclass
class Order:
    """One host run for a worker: the host (so the worker reaches it with its own
    transports) and the invocation the engine built, with the time left for it."""

    job_id: str
    host: str
    host_vars: dict[str, Any]
    command: str
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None  # base64
    uploads: list[tuple[str, str, int]] = field(default_factory=list)  # name, base64, mode
    needs_workdir: bool = True
    time_left: float | None = None
    # The credential assets the host names, name -> values (console.workers.credentials).
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return order_id(self.job_id, self.host)

    def encode(self) -> bytes:
        # vars, not asdict: the fields are JSON as they are, and asdict deep-copies them
        # (one order and two events per host run, a thousand runs a job).
        return json.dumps(vars(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> Order:
        data = json.loads(body)
        data["uploads"] = [tuple(item) for item in data.get("uploads", [])]
        return cls(**data)


@dataclass
class Event:
    """What a worker tells about a host run. `lines`: [stream, base64 bytes] pairs;
    `ended`: exit code or signal, or an error kind and message."""

    kind: str
    order: str
    worker: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    code: int | None = None
    signal: str | None = None
    error_kind: str | None = None
    error: str | None = None

    def encode(self) -> bytes:
        data = {k: v for k, v in vars(self).items() if v not in (None, [])}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> Event:
        data = json.loads(body)
        data["lines"] = [tuple(item) for item in data.get("lines", [])]
        return cls(**data)


@dataclass
class Stop:
    """Control: end the host run `order` (the job was stopped or timed out)."""

    order: str
    reason: str

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, body: bytes) -> Stop:
        return cls(**json.loads(body))


@dataclass
class ChildRequest:
    """A control API call (`opsconsole run` inside a run on a worker) relayed to the
    engine on behalf of the host run of job `job_id`, which proves itself with the
    job's OPS_JOB_TOKEN. `sent_at` (epoch seconds) bounds how long a copy could be
    replayed; the message id, random per request, lets the engine refuse a replay."""

    method: str
    path: str
    job_id: str
    token: str
    sent_at: float
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> ChildRequest:
        return cls(**json.loads(body))


@dataclass
class ChildReply:
    """The engine's answer: the HTTP status and JSON body the control API would give."""

    status: int
    data: Any

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), default=str).encode()

    @classmethod
    def decode(cls, body: bytes) -> ChildReply:
        return cls(**json.loads(body))
