"""The runbook-language plugin API: everything a language plugin imports, in one module.

A language is a class deriving from `RunbookLanguage`, registered by any installed
distribution under the entry-point group `opsconsole.runbook_languages` (finding and
loading them is `console.runbooks.languages`). A plugin imports this module and
nothing else of opsconsole, so the engine can change behind it: import-linter
(pyproject.toml) keeps plugins to it and keeps it free of the engine; it reaches only
the metadata parser, the parameter types and the typed errors.

The runner turns a runbook into an `Invocation` with `build_invocation`, creates a
private temporary workdir on the host, uploads `files` into it, runs `command` with
`env` (values never on the command line) and removes the workdir. Values too big for
the environment are moved into files first, for every language alike
(`console.runbooks.env_files`).

Job streams: stdout is Output, stderr is Error, and a line that starts with one of
`STREAM_PREFIXES` goes to the named stream instead (a language's helpers for scripts,
such as the Python plugin's `warning()`, write these prefixes).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from console.errors import ConfigError, UsageError
from console.runbooks.asset_env import (
    ASSET_PREFIX,
    DECLARED_VARIABLE,
    asset_parameter_kinds,
    env_key,
)
from console.runbooks.metadata import RunbookError, RunbookMetadata, parse_metadata_block
from console.runbooks.parameters import Parameter, env_for

__all__ = [
    "ASSET_PREFIX",
    "DECLARED_VARIABLE",
    "STREAM_PREFIXES",
    "ConfigError",
    "Invocation",
    "OsFamily",
    "Parameter",
    "Runbook",
    "RunbookError",
    "RunbookLanguage",
    "RunbookMetadata",
    "Stream",
    "TargetInfo",
    "TransportKind",
    "UsageError",
    "asset_parameter_kinds",
    "env_key",
    "posix_path",
    "runbook_env",
    "windows_path",
]

OsFamily = Literal["linux", "windows", "unknown"]
TransportKind = Literal["ssh", "local", "winrm"]
# Azure Automation's six job streams, and the line prefixes that pick one.
Stream = Literal["output", "error", "warning", "verbose", "progress", "debug"]
STREAM_PREFIXES: dict[str, Stream] = {
    "::output::": "output",
    "::error::": "error",
    "::warning::": "warning",
    "::verbose::": "verbose",
    "::progress::": "progress",
    "::debug::": "debug",
}


@dataclass(frozen=True)
class Runbook:
    """One runbook file of the catalog, read and with its metadata parsed."""

    name: str
    path: Path
    language: str  # the plugin's entry-point name
    content: bytes
    metadata: RunbookMetadata

    @property
    def text(self) -> str:
        return self.content.decode("utf-8-sig")

    @property
    def hash(self) -> str:
        """sha256 of the file's bytes: a job records exactly which version it ran."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def upload_name(self) -> str:
        """The file name used in the host's workdir: the real name, made shell-safe."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.path.name).lstrip(".") or "runbook"


class HostFacts(Protocol):
    """What `TargetInfo.from_host` reads of an inventory host (`console.inventory.Host`),
    named here so that this module needs nothing of the inventory."""

    @property
    def connection(self) -> str: ...

    @property
    def vars(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class TargetInfo:
    """What a plugin needs to know about the host to build a command for it."""

    os_family: OsFamily = "linux"
    transport: TransportKind = "ssh"

    @classmethod
    def from_host(cls, host: HostFacts) -> TargetInfo:
        """From the inventory: WinRM means Windows; `ansible_os_family` when it is set."""
        transport: TransportKind = "ssh"
        if host.connection in ("local", "winrm"):
            transport = "local" if host.connection == "local" else "winrm"
        family = str(host.vars.get("ansible_os_family", "")).lower()
        os_family: OsFamily = "unknown"
        if transport == "winrm" or family == "windows":
            os_family = "windows"
        elif family or (transport == "local" and os.name == "posix"):
            os_family = "linux"
        return cls(os_family, transport)

    @property
    def windows(self) -> bool:
        """Windows commands and paths: a Windows host, or anything reached over WinRM."""
        return self.os_family == "windows" or self.transport == "winrm"


@dataclass(frozen=True)
class Invocation:
    """One run of a runbook on one host.

    `files` maps names relative to the workdir (no folders) to their content;
    `command` is a command line for the host's shell that refers to them; `env` holds
    every value that came from a user. `data_files` are values that never run (see
    `console.runbooks.env_files`), uploaded readable by the owner only.
    """

    command: str
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    data_files: dict[str, bytes] = field(default_factory=dict)

    def uploads(self) -> list[tuple[str, bytes, int]]:
        """(name in the workdir, content, mode) of every file the run needs."""
        programs = [(name, data, 0o700) for name, data in self.files.items()]
        return programs + [(name, data, 0o600) for name, data in self.data_files.items()]


class RunbookLanguage(ABC):
    """Base class of every runbook language. Subclasses set `suffixes` as a literal."""

    name: str = ""  # set by the registry to the entry-point name
    suffixes: tuple[str, ...] = ()

    def parse_metadata(self, text: str, source: str = "<runbook>") -> RunbookMetadata:
        """The runbook's declared metadata; the default reads the `# /// runbook` block."""
        return parse_metadata_block(text, source)

    @abstractmethod
    def build_invocation(
        self,
        runbook: Runbook,
        params: dict[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None,
    ) -> Invocation:
        """How to run `runbook` with typed `params` on `target` inside `workdir`."""


def runbook_env(
    runbook: Runbook, params: dict[str, Any], workdir: str, webhook_data: dict[str, Any] | None
) -> dict[str, str]:
    """The variables every language sets: OPS_PARAM_*, OPS_WEBHOOK_DATA, OPS_RUNBOOK...

    Any size is fine here: the catalog moves values too big for the environment into
    files (`console.runbooks.env_files.fit_environment`) after the language built its
    invocation.
    """
    env = env_for(runbook.metadata.parameters, params)
    env["OPS_RUNBOOK"] = runbook.name
    env["OPS_WORKDIR"] = workdir
    if webhook_data is not None:
        env["OPS_WEBHOOK_DATA"] = json.dumps(webhook_data, separators=(",", ":"))
    return env


def posix_path(workdir: str, name: str) -> str:
    """The shell-quoted POSIX path of `name` inside `workdir`."""
    return shlex.quote(posixpath.join(workdir, name))


def windows_path(workdir: str, name: str) -> str:
    """The double-quoted Windows path of `name` inside `workdir`."""
    path = workdir.rstrip("\\/") + "\\" + name
    if '"' in path or "\n" in path:
        raise UsageError(f"the work folder {workdir!r} cannot be quoted for Windows")
    return f'"{path}"'
