"""The command palette's provider: the same registry as keys, footer and help."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.commands import COMMANDS, SCOPES, Command, key_label


class RunsCommands(Protocol):
    def command_available(self, command: Command) -> bool: ...

    async def run_registry_command(self, command: Command) -> None: ...

    def key_for(self, command: Command) -> str: ...


class CommandsProvider(Provider):
    def _available(self) -> list[Command]:
        app = cast(RunsCommands, self.app)
        return [c for c in COMMANDS if c.id != "palette" and app.command_available(c)]

    def _label(self, command: Command) -> str:
        key = key_label(cast(RunsCommands, self.app).key_for(command))
        return f"{SCOPES[command.scope]}: {command.description} ({key})"

    def _run(self, command: Command) -> Callable[[], Awaitable[None]]:
        return partial(cast(RunsCommands, self.app).run_registry_command, command)

    async def discover(self) -> Hits:
        for command in self._available():
            yield DiscoveryHit(self._label(command), self._run(command), help=command.id)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._available():
            label = self._label(command)
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(label), self._run(command), text=label, help=command.id
                )
