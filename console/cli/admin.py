"""Shared plumbing of `schedules` and `webhooks`: both are admin services of the engine
(`Engine.schedules`, `Engine.webhooks`, or the same calls over the control socket)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from console.settings import Settings

Operation = Callable[[Any, argparse.Namespace], Awaitable[int]]


def admin_handler(service: str, operation: Operation) -> Callable[..., int]:
    """A CLI handler that reaches the engine (attached or in-process) and runs
    `operation(engine.<service>, args)`."""

    def handle(args: argparse.Namespace, settings: Settings) -> int:
        from console.engine.connect import engine_client

        async def go() -> int:
            async with engine_client(settings) as client:
                return await operation(getattr(client, service), args)

        return asyncio.run(go())

    return handle


def add_state_commands(
    actions: Any, common: argparse.ArgumentParser, service: str, noun: str
) -> None:
    """`enable NAME`, `disable NAME` and `delete NAME` of a schedule or webhook."""
    for action in ("enable", "disable", "delete"):
        one = actions.add_parser(action, help=f"{action} a {noun}", parents=[common])
        one.add_argument("name")
        one.set_defaults(handler=admin_handler(service, _change_state(noun)))


def _change_state(noun: str) -> Operation:
    async def change(admin: Any, args: argparse.Namespace) -> int:
        if args.action == "delete":
            await admin.delete(name=args.name)
        else:
            await admin.set_enabled(name=args.name, enabled=args.action == "enable")
        print(f"{noun} {args.name} {args.action}d")
        return 0

    return change
