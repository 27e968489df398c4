"""How an engine is started: which of its parts run, its limits and where it listens.

Apart from `console.engine.core` so that the services it configures can name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.workers.connection import NatsSettings

DEFAULT_WORKER_WAIT = 600.0  # seconds


@dataclass(frozen=True)
class EngineOptions:
    max_jobs: int = 8
    max_runs_per_host: int = 1
    forks: int | None = None
    retention_days: int = 30
    # The scheduler and the webhook listener run in long-lived engines (serve, the
    # console); a one-shot CLI engine only runs the jobs it was asked for.
    triggers: bool = False
    # With triggers: collect every host each `tracking interval` (change tracking).
    # `serve --no-collection` and engines of tests that do not want it turn it off.
    collection: bool = False
    # With triggers: run the desired-state configurations' modes (check/apply jobs).
    desired_state: bool = False
    # With triggers: assess pending updates every 6 hours (jobs). `serve` only: the
    # console opened on a fresh machine must not start refreshing package lists.
    assessment: bool = False
    listen: str = "127.0.0.1:8080"
    # serve fails when it cannot listen; the console starts anyway (and says why).
    listener_required: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str | None = None
    # A one-shot engine for a command that only reads jobs (`jobs list`, `jobs show`):
    # it holds the lock as a reader (an engine starting meanwhile waits for it, and
    # nobody attaches to it) and recovers a crashed engine's jobs, but starts nothing:
    # no job, trigger or control API. Queued jobs stay Queued for the next engine.
    read_only: bool = False
    # A one-shot engine (`exec`) starts its control API and its schedule and webhook
    # admin only when another command asks to attach (console.engine.connect.attach
    # leaves a request file, see `services.control_wanted_path`): a command nobody attaches to
    # never pays for them. False: at start, like every other engine.
    services_on_request: bool = False
    # The NATS server of the worker groups and how to log in to it (serve/console
    # --nats..., env OPSCONSOLE_NATS...); None: every host runs in the engine, and a
    # host routed to a group fails saying so.
    nats: NatsSettings | None = None
    # How long a host run routed to a group with no online worker waits, Queued, before
    # it fails saying so (serve/console --worker-wait).
    worker_wait: float = DEFAULT_WORKER_WAIT
