"""The runbook catalog: the script files of the runbooks folder, current on every scan.

A runbook's name is its file name without the suffix; the suffix picks the language
plugin (`console.runbooks.languages`), whose parser reads the metadata block
(`console.runbooks.metadata`). A file whose metadata is broken is reported as a
problem, never fatal to the others.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console.errors import ConfigError, UsageError
from console.runbooks.env_files import fit_environment
from console.runbooks.languages import LanguageRegistry, default_registry
from console.runbooks.metadata import RunbookError
from console.runbooks.plugin_api import Invocation, Runbook, RunbookLanguage, TargetInfo


@dataclass(frozen=True)
class RunbookProblem:
    """A file that looks like a runbook but cannot be used, and why."""

    path: Path
    name: str
    error: ConfigError


@dataclass(frozen=True)
class CatalogScan:
    runbooks: list[Runbook]
    problems: list[RunbookProblem]


def _stamp(path: Path) -> tuple[int, int, int]:
    """What changes when a file is edited or replaced, or a folder's entries change."""
    info = os.stat(path)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class RunbookCatalog:
    """The runbooks of one folder (not its subfolders), current on every scan.

    Operators edit runbooks while the engine runs, so every scan looks at the folder
    again; a file whose size, mtime and inode are unchanged is not read and parsed again
    (a webhook burst would otherwise re-read every runbook per request)."""

    def __init__(self, folder: Path | str, registry: LanguageRegistry | None = None) -> None:
        self.folder = Path(folder)
        self._registry = registry
        self._parsed: dict[Path, tuple[tuple[int, int, int], Runbook]] = {}
        # The folder's stamp when the last scan began, and the runbooks it found.
        self._last_scan: tuple[tuple[int, int, int], dict[str, Runbook]] | None = None

    @property
    def registry(self) -> LanguageRegistry:
        """The language plugins, found on first use: an engine that only runs commands
        (`exec`) never reads the installed packages' entry points."""
        if self._registry is None:
            self._registry = default_registry()
        return self._registry

    def scan(self) -> CatalogScan:
        """Every runbook, plus a problem per file with broken metadata (never fatal)."""
        if not self.folder.is_dir():
            missing = ConfigError(f"runbooks folder {self.folder} does not exist")
            return CatalogScan([], [RunbookProblem(self.folder, "", missing)])
        runbooks: dict[str, Runbook] = {}
        problems: list[RunbookProblem] = []
        folder_stamp = _stamp(self.folder)
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            match = self.registry.language_for(path.name)
            if match is None:
                broken = self.registry.broken_for(path.name)
                if broken is not None:
                    name = path.name.rsplit(".", 1)[0]
                    problems.append(
                        RunbookProblem(
                            path,
                            name,
                            ConfigError(f"{path}: its language plugin cannot be loaded: {broken}"),
                        )
                    )
                continue  # not a runbook: README, notes, files of unknown languages
            language, suffix = match
            name = path.name[: -len(suffix)]
            try:
                if name in runbooks:
                    raise ConfigError(
                        f"{path}: runbook name {name!r} is already used by "
                        f"{runbooks[name].path.name}; rename one"
                    )
                runbooks[name] = self._load(path, name, language)
            except ConfigError as exc:
                problems.append(RunbookProblem(path, name, exc))
        self._last_scan = (folder_stamp, runbooks)
        return CatalogScan(list(runbooks.values()), problems)

    def _load(self, path: Path, name: str, language: RunbookLanguage) -> Runbook:
        stamp = _stamp(path)
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == stamp and cached[1].language == language.name:
            return cached[1]
        runbook = load_runbook(path, name, language)
        self._parsed[path] = (stamp, runbook)
        return runbook

    def list(self) -> list[Runbook]:
        return self.scan().runbooks

    def get(self, name: str) -> Runbook:
        """The runbook called `name`; a UsageError with close matches when there is none."""
        unchanged = self._unchanged(name)
        if unchanged is not None:
            return unchanged
        scan = self.scan()
        for runbook in scan.runbooks:
            if runbook.name == name:
                return runbook
        for problem in scan.problems:
            if problem.name == name:
                raise problem.error
        names = [r.name for r in scan.runbooks]
        close = difflib.get_close_matches(name, names, n=3)
        hint = (
            ("; did you mean " + " or ".join(close) + "?")
            if close
            else (
                f" (runbooks: {', '.join(names)})" if names else f" (no runbooks in {self.folder})"
            )
        )
        raise UsageError(f"no runbook named {name!r}{hint}")

    def _unchanged(self, name: str) -> Runbook | None:
        """The last scan's runbook `name` when no file was added, removed or renamed in
        the folder (its stamp) and the runbook's file is the one parsed: two stats
        instead of a scan of the whole folder for every job a webhook burst starts."""
        if self._last_scan is None:
            return None
        folder_stamp, runbooks = self._last_scan
        runbook = runbooks.get(name)
        if runbook is None:
            return None
        try:
            if (
                _stamp(self.folder) != folder_stamp
                or _stamp(runbook.path) != self._parsed[runbook.path][0]
            ):
                return None
        except (OSError, KeyError):
            return None
        return runbook

    def language(self, runbook: Runbook) -> RunbookLanguage:
        return self.registry.get(runbook.language)

    def build_invocation(
        self,
        runbook: Runbook,
        params: Mapping[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None = None,
        asset_env: Mapping[str, str] | None = None,
    ) -> Invocation:
        """What the runner runs on one host: `params` are typed (see parse_values);
        `asset_env` the resolved assets' variables (console.runbooks.asset_env), added
        for every language alike. Values too big for the environment become files."""
        invocation = self.language(runbook).build_invocation(
            runbook, dict(params), target, workdir, webhook_data
        )
        if asset_env:
            invocation = replace(invocation, env={**invocation.env, **asset_env})
        return fit_environment(invocation, target, workdir)


def load_runbook(path: Path, name: str, language: RunbookLanguage) -> Runbook:
    """Read one runbook file and parse its metadata with its language's parser."""
    try:
        content = path.read_bytes()
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunbookError(str(path), None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise RunbookError(str(path), None, f"cannot be read: {exc.strerror}") from None
    metadata = language.parse_metadata(text, source=str(path))
    return Runbook(name=name, path=path, language=language.name, content=content, metadata=metadata)
