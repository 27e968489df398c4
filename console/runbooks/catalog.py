"""Runbooks: script files in the runbooks folder, their metadata block and parameters.

A runbook's name is its file name without the suffix; the suffix picks the language
plugin (`console.runbooks.languages`). Its metadata is a PEP 723-style comment block holding
TOML, which works in every language that comments with `#`:

    # /// runbook
    # description = "Report filesystems fuller than a threshold"
    # timeout = 60
    # [parameters.threshold]
    # type = "int"
    # default = 80
    # ///

Every mistake in the block raises `RunbookError` (a `ConfigError`) naming the file,
the line and the parameter, so the author can go straight to it. docs/runbooks.md is
the user's reference.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import ConfigError, UsageError
from console.runbooks.parameters import NAME_RE, TYPES, Parameter, env_names

if TYPE_CHECKING:
    from console.runbooks.languages import Invocation, LanguageRegistry, RunbookLanguage, TargetInfo

BLOCK_TYPE = "runbook"
_OPEN = f"# /// {BLOCK_TYPE}"
_CLOSE = "# ///"
_TOP_KEYS = ("description", "target", "timeout", "parameters")
_PARAM_KEYS = ("type", "required", "default", "choices", "description")


class RunbookError(ConfigError):
    """A runbook whose metadata cannot be used: where it is and what is wrong."""

    def __init__(
        self, path: str, line: int | None, problem: str, parameter: str | None = None
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        what = f"parameter {parameter!r}: {problem}" if parameter else problem
        super().__init__(f"{where}: {what}")
        self.path = path
        self.line = line
        self.parameter = parameter
        self.problem = problem


@dataclass(frozen=True)
class RunbookMetadata:
    """What the block declares. `line` is the block's first line (None: no block)."""

    description: str = ""
    target: str | None = None
    timeout: float | None = None
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class Runbook:
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


def parse_metadata_block(text: str, source: str = "<runbook>") -> RunbookMetadata:
    """Find the `# /// runbook` block in `text` and check it. No block: empty metadata."""
    found = _find_block(text, source)
    if found is None:
        return RunbookMetadata()
    first_line, toml_lines = found
    toml_text = "\n".join(toml_lines)
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = first_line + int(match.group(1)) if match else first_line
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise RunbookError(source, line, f"invalid TOML in the runbook block: {reason}") from None
    return _metadata_from(data, _Locator(source, first_line, toml_lines))


def _find_block(text: str, source: str) -> tuple[int, list[str]] | None:
    """(line of `# /// runbook`, the TOML lines with their `# ` removed), or None."""
    lines = text.splitlines()
    found: tuple[int, list[str]] | None = None
    index = 0
    while index < len(lines):
        if lines[index].rstrip() != _OPEN:
            index += 1
            continue
        opened = index + 1
        if found is not None:
            raise RunbookError(source, opened, "a second '# /// runbook' block; keep one")
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].rstrip() != _CLOSE:
            line = lines[index].rstrip("\r")
            if not (line == "#" or line.startswith("# ")):
                break
            body.append(line[2:])
            index += 1
        if index >= len(lines) or lines[index].rstrip() != _CLOSE:
            raise RunbookError(
                source,
                opened,
                "the '# /// runbook' block is not closed by a "
                "'# ///' line (every line inside must start with '# ')",
            )
        found = (opened, body)
        index += 1
    return found


@dataclass(frozen=True)
class _Locator:
    """Finds the file line of a key or parameter table, for error messages."""

    source: str
    first_line: int
    lines: list[str]

    def line_of(self, pattern: str) -> int:
        regex = re.compile(pattern)
        for offset, line in enumerate(self.lines, start=1):
            if regex.search(line):
                return self.first_line + offset
        return self.first_line

    def key(self, key: str) -> int:
        return self.line_of(rf"^\s*{re.escape(key)}\s*=")

    def param(self, name: str) -> int:
        quoted = rf"(?:{re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')"
        return self.line_of(rf"^\s*\[\s*parameters\s*\.\s*{quoted}\s*\]|^\s*{quoted}\s*=")

    def error(self, line: int, problem: str, parameter: str | None = None) -> RunbookError:
        return RunbookError(self.source, line, problem, parameter)


def _metadata_from(data: dict[str, Any], where: _Locator) -> RunbookMetadata:
    for key in data:
        if key not in _TOP_KEYS:
            raise where.error(
                where.key(key), f"unknown key {key!r}; the block takes " + ", ".join(_TOP_KEYS)
            )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise where.error(where.key("description"), "description must be text")
    target = data.get("target")
    if target is not None and (not isinstance(target, str) or not target.strip()):
        raise where.error(where.key("target"), "target must be a host pattern (text)")
    timeout = data.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise where.error(where.key("timeout"), "timeout must be a positive number of seconds")
    tables = data.get("parameters", {})
    if not isinstance(tables, dict):
        raise where.error(
            where.key("parameters"), "parameters must be tables like [parameters.NAME]"
        )
    parameters = {name: _parameter(name, spec, where) for name, spec in tables.items()}
    _check_env_collisions(parameters, where)
    return RunbookMetadata(
        description=description,
        target=target,
        timeout=float(timeout) if timeout is not None else None,
        parameters=parameters,
        line=where.first_line,
    )


def _parameter(name: str, spec: Any, where: _Locator) -> Parameter:
    line = where.param(name)
    if not NAME_RE.match(name):
        raise where.error(
            line,
            "a name must start with a letter or '_' and hold only letters, digits, '_' and '-'",
            name,
        )
    if not isinstance(spec, dict):
        raise where.error(line, "must be a table like [parameters.NAME] with a type", name)
    for key in spec:
        if key not in _PARAM_KEYS:
            raise where.error(line, f"unknown key {key!r}; use " + ", ".join(_PARAM_KEYS), name)
    kind = spec.get("type", "string")
    if kind not in TYPES:
        raise where.error(line, f"unknown type {kind!r}; use one of " + ", ".join(TYPES), name)
    choices = spec.get("choices")
    if kind == "choice":
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str) for c in choices)
        ):
            raise where.error(line, 'type \'choice\' needs choices = ["a", "b", ...]', name)
    elif choices is not None:
        raise where.error(line, "choices only apply to type 'choice'", name)
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise where.error(line, "required must be true or false", name)
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise where.error(line, "description must be text", name)
    param = Parameter(
        name=name,
        type=kind,
        required=required,
        default=None,
        choices=tuple(choices or ()),
        description=description,
    )
    default = spec.get("default")
    if default is not None and not _default_fits(param, default):
        raise where.error(line, f"default {default!r} is not a valid {kind}", name)
    return Parameter(
        name=name,
        type=kind,
        required=required,
        default=float(default) if kind == "float" and default is not None else default,
        choices=param.choices,
        description=description,
    )


def _default_fits(param: Parameter, value: Any) -> bool:
    """TOML already typed the default; check it is the declared type (no coercion)."""
    if isinstance(value, bool):
        return param.type in ("bool", "json")
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "credential": lambda v: isinstance(v, str) and bool(v.strip()),
        "int": lambda v: isinstance(v, int),
        "float": lambda v: isinstance(v, int | float),
        "bool": lambda v: False,
        "choice": lambda v: isinstance(v, str) and v in param.choices,
        "list": lambda v: isinstance(v, list),
        "json": lambda v: not _has_datetime(v),
    }
    return bool(checks[param.type](value))


def _has_datetime(value: Any) -> bool:
    """TOML dates and times have no JSON form, so they cannot be json defaults."""
    if isinstance(value, dict):
        return any(_has_datetime(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_datetime(v) for v in value)
    return not isinstance(value, str | int | float | bool)


def _check_env_collisions(parameters: Mapping[str, Parameter], where: _Locator) -> None:
    """`log-file` and `log_file` would share OPS_PARAM_LOG_FILE: refuse, naming both."""
    owners: dict[str, str] = {}
    for name, param in parameters.items():
        for variable in env_names(param):
            other = owners.setdefault(variable, name)
            if other != name:
                raise where.error(
                    where.param(name),
                    f"its variable {variable} is also "
                    f"the variable of parameter {other!r}; rename one",
                    name,
                )


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
            # Imported here because console.runbooks.languages imports this module's types.
            from console.runbooks.languages import default_registry

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
    ) -> Invocation:
        """What the runner runs on one host: `params` are typed (see parse_values).
        Values too big for the environment become files, whatever the language."""
        from console.runbooks.env_files import (
            fit_environment,  # it imports console.runbooks.languages
        )

        invocation = self.language(runbook).build_invocation(
            runbook, dict(params), target, workdir, webhook_data
        )
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
