"""How a widget reaches the engine client and the app's job screen: through its app,
never a global."""

from __future__ import annotations

from typing import Protocol, cast

from textual.dom import DOMNode

from console.engine.client import EngineClient


class HasClient(Protocol):
    client: EngineClient


def client_of(node: DOMNode) -> EngineClient:
    return cast(HasClient, node.app).client


class OpensJobs(Protocol):
    def open_job(self, job_id: str) -> None: ...


def open_job(node: DOMNode, job_id: str) -> None:
    """Show a job's screen as the Jobs pane does (the app owns the screen stack)."""
    cast(OpensJobs, node.app).open_job(job_id)
