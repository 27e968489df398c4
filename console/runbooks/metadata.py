"""A runbook's metadata block: the PEP 723-style comment that declares its parameters.

The block holds TOML and works in every language that comments with `#`:

    # /// runbook
    # description = "Report filesystems fuller than a threshold"
    # timeout = 60
    # [parameters.threshold]
    # type = "int"
    # default = 80
    # ///

Every mistake in the block raises `RunbookError` (a `ConfigError`) naming the file,
the line and the parameter, so the author can go straight to it. docs/runbooks.md is
the user's reference. Engine-free: the plugin API (`console.runbooks.plugin_api`) uses
it as every language's default metadata parser.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.errors import ConfigError
from console.runbooks.parameters import (
    ASSET_NAME_RE,
    ASSET_TYPES,
    NAME_RE,
    TYPES,
    Parameter,
    env_names,
)

BLOCK_TYPE = "runbook"
_OPEN = f"# /// {BLOCK_TYPE}"
_CLOSE = "# ///"
_TOP_KEYS = ("description", "target", "timeout", "parameters", "assets")
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
    # Assets the runbook reads at run time through its language's helper; no others.
    assets: tuple[str, ...] = ()


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
        assets=_assets(data.get("assets", []), where),
    )


def _assets(value: Any, where: _Locator) -> tuple[str, ...]:
    """`assets = ["name", ...]`: asset names, each once (names ignore case)."""
    line = where.key("assets")
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise where.error(line, 'assets must be a list of asset names, like assets = ["db"]')
    seen: dict[str, str] = {}
    for name in value:
        if not ASSET_NAME_RE.match(name):
            raise where.error(
                line,
                f"{name!r} is not an asset name: a letter, then letters, digits, '_', '.' or '-'",
            )
        key = re.sub(r"[^A-Za-z0-9]", "_", name).upper()  # its variables' part
        if key in seen:
            raise where.error(line, f"assets {seen[key]!r} and {name!r} would share variables")
        seen[key] = name
    return tuple(value)


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
        **{
            kind: lambda v: isinstance(v, str) and bool(ASSET_NAME_RE.match(v))
            for kind in ASSET_TYPES
        },
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
