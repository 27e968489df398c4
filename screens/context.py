"""How a widget reaches the engine client: through its app, never a global."""

from __future__ import annotations

from typing import Protocol, cast

from textual.dom import DOMNode

from console.engine.client import EngineClient


class HasClient(Protocol):
    client: EngineClient


def client_of(node: DOMNode) -> EngineClient:
    return cast(HasClient, node.app).client
