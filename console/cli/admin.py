"""Shared plumbing of `schedules` and `webhooks`: both are admin services of the engine
client (`EngineClient.schedules`, `EngineClient.webhooks`), the same calls in-process
and over the control socket."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from console.settings import Settings

if TYPE_CHECKING:
    from console.engine.client import EngineClient

Admin = TypeVar("Admin")
Handler = Callable[[argparse.Namespace, Settings], int]


class StateAdmin(Protocol):
    """What `enable`, `disable` and `delete` need of a schedule or webhook admin."""

    async def set_enabled(self, name: str, enabled: bool) -> object: ...

    async def delete(self, name: str) -> object: ...


def admin_handler(
    pick: Callable[[EngineClient], Admin],
    operation: Callable[[Admin, argparse.Namespace], Awaitable[int]],
) -> Handler:
    """A CLI handler that reaches the engine (attached or in-process) and runs
    `operation(pick(client), args)`."""

    def handle(args: argparse.Namespace, settings: Settings) -> int:
        from console.engine.connect import engine_client

        async def go() -> int:
            async with engine_client(settings) as client:
                return await operation(pick(client), args)

        return asyncio.run(go())

    return handle


def add_state_commands(
    actions: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    pick: Callable[[EngineClient], StateAdmin],
    noun: str,
) -> None:
    """`enable NAME`, `disable NAME` and `delete NAME` of a schedule or webhook."""
    for action in ("enable", "disable", "delete"):
        one = actions.add_parser(action, help=f"{action} a {noun}", parents=[common])
        one.add_argument("name")
        one.set_defaults(handler=admin_handler(pick, _change_state(noun)))


def _change_state(noun: str) -> Callable[[StateAdmin, argparse.Namespace], Awaitable[int]]:
    async def change(admin: StateAdmin, args: argparse.Namespace) -> int:
        if args.action == "delete":
            await admin.delete(args.name)
        else:
            await admin.set_enabled(args.name, args.action == "enable")
        print(f"{noun} {args.name} {args.action}d")
        return 0

    return change
