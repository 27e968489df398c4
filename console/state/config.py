"""Read desired-state configurations: one YAML file each, in the configurations folder.

Users and tests write these files by hand (docs/state.md, "Configuration format"), so
every mistake is refused with the file, the 1-based line and the key to fix, e.g.
`configurations/web.yaml:14: resources[3] (package: htop): unknown key 'stat' (known:
state, version, requires)`. A configuration that loads is fully checked: the check and
apply scripts read `Resource.properties` without checking again.

The lines come from `console.state.yamlmarks`, which also refuses duplicate keys.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ConfigError, UsageError
from console.inventory.patterns import parse_pattern
from console.state.model import (
    DEFAULT_FREQUENCY_S,
    RESOURCE_KEYS,
    RESOURCE_TYPES,
    STATE_CHOICES,
    Configuration,
    ConfigurationInfo,
    Mode,
    Resource,
)
from console.state.yamlmarks import (
    ConfigurationError,
    MarkedList,
    MarkedMapping,
    parse_marked_yaml,
)

SUFFIXES = (".yaml", ".yml")
TOP_KEYS = ("description", "targets", "mode", "frequency", "resources")
MIN_FREQUENCY_S = 60  # a host checked more often than every minute is a busy host
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Resource types whose identity is a path on the host, which must be absolute.
PATH_TYPES = ("file", "directory", "lineinfile")
IDENTITY_OF = {
    "file": "path",
    "directory": "path",
    "package": "package name",
    "service": "service name",
    "lineinfile": "path",
    "user": "user name",
    "group": "group name",
    "command": "shell command",
}
# With `state: absent` these types take no other key: there is nothing left to shape.
_ABSENT_ALONE = ("file", "directory", "user")
_OCTAL_MODE = re.compile(r"^[0-7]{3,4}$")
_DURATION = re.compile(r"(?:[0-9]+[smhd])+")
_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# ------------------------------------------------------------------ one configuration


@dataclass
class _File:
    """The file being read: where errors point, and the sources read for the digest."""

    path: Path
    sources: list[tuple[str, bytes]] = field(default_factory=list)

    def error(self, line: int | None, problem: str) -> ConfigurationError:
        return ConfigurationError(str(self.path), line, problem)


def load_configuration(path: Path) -> Configuration:
    """Read and check one configuration file; raise ConfigurationError naming file,
    line and key. Its name is the file stem; `source` files are read into `content`."""
    file = _File(path)
    if not NAME_RE.match(path.stem):
        raise file.error(
            None,
            f"configuration name {path.stem!r} (the file name) may hold only letters, "
            "digits and _.- (rename the file)",
        )
    raw = _read_bytes(file)
    data = parse_marked_yaml(str(path), _decode(file, raw, None, "the file"))
    if data is None:
        raise file.error(1, "the file is empty (a configuration needs targets: and resources:)")
    if not isinstance(data, MarkedMapping):
        raise file.error(1, "a configuration must be a mapping with targets: and resources:")
    for key in data:
        if key not in TOP_KEYS:
            known = ", ".join(TOP_KEYS)
            raise file.error(data.line_of(key), f"unknown key {key!r} (known: {known})")
    targets, mode = _targets(file, data), _mode(file, data)
    frequency_s, description = _frequency(file, data), _description(file, data)
    resources = _resources(file, data)  # reads the sources, so before the digest
    digest = hashlib.sha256(raw)
    for name, content in file.sources:
        digest.update(b"\0%s\0%d\0" % (name.encode(), len(content)) + content)
    return Configuration(
        name=path.stem,
        path=path,
        targets=targets,
        mode=mode,
        frequency_s=frequency_s,
        description=description,
        resources=resources,
        digest=digest.hexdigest(),
    )


def _read_bytes(file: _File) -> bytes:
    try:
        return file.path.read_bytes()
    except OSError as exc:
        raise file.error(None, f"cannot read the configuration: {exc.strerror}") from None


def _decode(file: _File, raw: bytes, line: int | None, what: str) -> str:
    """UTF-8 text, or an error at `line`, else at the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if line is None:
            line = raw[: exc.start].count(b"\n") + 1
        raise file.error(line, f"{what} is not UTF-8 text") from None


def _targets(file: _File, data: MarkedMapping) -> str:
    if "targets" not in data:
        raise file.error(
            data.line, "missing key 'targets' (an inventory pattern, e.g. targets: \"web:&prod\")"
        )
    targets, line = data["targets"], data.line_of("targets")
    if not isinstance(targets, str) or not targets.strip():
        raise file.error(
            line, f'targets: must be an inventory pattern such as "web:&prod", not {targets!r}'
        )
    try:
        for term in parse_pattern(targets):
            _ = term.regex  # a bad `~regex` term is found here, not at the first run
    except UsageError as exc:
        raise file.error(line, f"targets: {exc.message}") from None
    return targets


def _mode(file: _File, data: MarkedMapping) -> Mode:
    value = data.get("mode", Mode.APPLY_AND_MONITOR.value)
    if value not in tuple(Mode):
        choices = ", ".join(m.value for m in Mode)
        raise file.error(data.line_of("mode"), f"mode: unknown mode {value!r} (use {choices})")
    return Mode(value)


def _frequency(file: _File, data: MarkedMapping) -> float:
    value = data.get("frequency", DEFAULT_FREQUENCY_S)
    line = data.line_of("frequency")
    seconds = parse_duration(value)
    if seconds is None or not math.isfinite(seconds):
        raise file.error(
            line,
            f"frequency: {value!r} is not a duration (write 15m, 1h, 90s, 1d, 1h30m "
            "or a number of seconds)",
        )
    if seconds < MIN_FREQUENCY_S:
        raise file.error(
            line, f"frequency: {value!r} is under the minimum of {MIN_FREQUENCY_S}s (1m)"
        )
    return seconds


def parse_duration(value: Any) -> float | None:
    """Seconds of `15m`, `1h30m`, `90s`, `1d` or a plain number; None when not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    if not _DURATION.fullmatch(text):
        return None
    return float(sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text)))


def _description(file: _File, data: MarkedMapping) -> str:
    description = data.get("description")
    if description is None:
        return ""
    if not isinstance(description, str):
        raise file.error(
            data.line_of("description"), f"description: must be text, not {description!r}"
        )
    return description


# ------------------------------------------------------------------------- resources


def _resources(file: _File, data: MarkedMapping) -> tuple[Resource, ...]:
    entries = data.get("resources")
    line = data.line_of("resources")
    if "resources" not in data:
        raise file.error(line, "missing key 'resources' (a list such as '- package: htop')")
    if not isinstance(entries, MarkedList) or not entries:
        raise file.error(
            line, "resources: must be a non-empty list of resources such as '- package: htop'"
        )
    resources: list[Resource] = []
    for index, (entry, entry_line) in enumerate(zip(entries, entries.lines, strict=True)):
        resource = _resource(file, f"resources[{index}]", entry, entry_line, resources)
        for earlier in resources:
            if earlier.id == resource.id:
                raise file.error(
                    resource.line,
                    f"resources[{index}]: duplicate resource {resource.id} "
                    f"(first on line {earlier.line})",
                )
        resources.append(resource)
    return tuple(resources)


def _resource(file: _File, label: str, entry: Any, line: int, earlier: list[Resource]) -> Resource:
    """One list entry: its type key and identity, its checked properties, its requires."""
    if not isinstance(entry, MarkedMapping):
        raise file.error(
            line, f"{label}: must be a mapping such as '- package: htop', not {entry!r}"
        )
    kind = _type_key(file, label, entry)
    identity = _identity(file, label, kind, entry)
    where = f"{label} ({kind}: {identity})"
    properties: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in (kind, "requires"):
            properties[key] = _property(file, where, kind, key, value, entry)
    _check_combination(file, where, kind, entry, properties)
    if "source" in properties:
        properties["content"] = _read_source(file, where, properties.pop("source"), entry)
    requires = _requires(file, where, entry, earlier) if "requires" in entry else ()
    return Resource(kind, identity, properties, requires, entry.line)


def _type_key(file: _File, label: str, entry: MarkedMapping) -> str:
    """The entry's type key. `group` is both a type and a key of `file` and `directory`
    (the owning group): beside one of those it is that key, not a second type."""
    types = [key for key in entry if key in RESOURCE_TYPES]
    kinds = [t for t in types if not any(t in RESOURCE_KEYS[other] for other in types)]
    if len(kinds) > 1:
        raise file.error(
            entry.line_of(kinds[1]),
            f"{label}: two type keys, {kinds[0]!r} and {kinds[1]!r} "
            "(one resource per list entry: start the next one with '- ')",
        )
    if not kinds:
        known = ", ".join(RESOURCE_TYPES)
        found = f"found {next(iter(entry))!r}" if entry else "the entry is empty"
        raise file.error(entry.line, f"{label}: no resource type key (one of: {known}); {found}")
    return kinds[0]


def _identity(file: _File, label: str, kind: str, entry: MarkedMapping) -> str:
    identity, line = entry[kind], entry.line_of(kind)
    what = IDENTITY_OF[kind]
    if not isinstance(identity, str) or not identity.strip():
        raise file.error(line, f"{label}: {kind}: needs its {what} as text, not {identity!r}")
    if kind != "command" and ("\n" in identity or "\0" in identity):
        raise file.error(line, f"{label}: {kind}: the {what} must be one line")
    if kind in PATH_TYPES and not identity.startswith("/"):
        raise file.error(line, f"{label}: {kind}: {identity!r} must be an absolute path")
    return identity


def _property(
    file: _File, where: str, kind: str, key: Any, value: Any, entry: MarkedMapping
) -> Any:
    """A key's value, refused if the key is unknown, of the wrong type or out of range."""
    line = entry.line_of(key)
    keys = RESOURCE_KEYS[kind]
    if key not in keys:
        known = ", ".join([*keys, "requires"])
        raise file.error(line, f"{where}: unknown key {key!r} (known: {known})")
    expected = keys[key]
    if key == "mode" and isinstance(value, int) and not isinstance(value, bool):
        raise file.error(
            line,
            f'{where}: mode: quote it, e.g. mode: "0644" (unquoted, YAML reads '
            f"it as the number {value})",
        )
    if expected is bool and not isinstance(value, bool):
        raise file.error(line, f"{where}: {key}: must be true or false, not {value!r}")
    if expected is str and not isinstance(value, str):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        hint = f' (quote it: {key}: "{value}")' if number else ""
        raise file.error(line, f"{where}: {key}: must be text, not {value!r}{hint}")
    if expected is list:
        return _string_list(file, where, key, value, line)
    if isinstance(value, str):
        _check_text(file, where, kind, key, value, line)
    return value


def _string_list(file: _File, where: str, key: str, value: Any, line: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise file.error(
            line, f"{where}: {key}: must be a list of names, e.g. {key}: [adm], not {value!r}"
        )
    return list(value)


def _check_text(file: _File, where: str, kind: str, key: str, value: str, line: int) -> None:
    if key != "content" and not value.strip():
        raise file.error(line, f"{where}: {key}: must not be empty")
    if key == "mode" and not _OCTAL_MODE.match(value):
        raise file.error(
            line, f"{where}: mode: {value!r} is not an octal mode (3 or 4 digits 0-7, e.g. 0644)"
        )
    if key == "state" and value not in STATE_CHOICES[kind]:
        choices = ", ".join(STATE_CHOICES[kind])
        raise file.error(line, f"{where}: state: {value!r} is not one of {choices}")
    if key in ("home", "shell") and not value.startswith("/"):
        raise file.error(line, f"{where}: {key}: {value!r} must be an absolute path")
    if key == "match":
        try:
            re.compile(value)
        except re.error as exc:
            raise file.error(line, f"{where}: match: not a valid regex: {exc}") from None


def _check_combination(
    file: _File, where: str, kind: str, entry: MarkedMapping, properties: Mapping[str, Any]
) -> None:
    """Keys that are each fine but contradict or miss one another."""
    for first, second in (("version", "state"), ("content", "source")):
        if first in properties and second in properties:
            later = max(first, second, key=entry.line_of)
            raise file.error(
                entry.line_of(later), f"{where}: {first} and {second} exclude each other"
            )
    if kind == "lineinfile" and "line" not in properties:
        raise file.error(entry.line, f"{where}: missing key 'line' (the line the file must hold)")
    if kind == "service" and not properties:
        raise file.error(entry.line, f"{where}: needs running: and/or enabled: (true or false)")
    if kind in _ABSENT_ALONE and properties.get("state") == "absent" and len(properties) > 1:
        other = next(key for key in properties if key != "state")
        raise file.error(
            entry.line_of(other), f"{where}: {other}: means nothing with state: absent"
        )


def _read_source(file: _File, where: str, source: str, entry: MarkedMapping) -> str:
    """The text of `source`, a file beside the configuration that must stay in its folder."""
    line = entry.line_of("source")
    folder = file.path.parent
    if Path(source).is_absolute():
        raise file.error(
            line, f"{where}: source: {source!r} must be relative to {folder} (e.g. files/motd)"
        )
    target = folder / source
    if not target.resolve().is_relative_to(folder.resolve()):
        raise file.error(line, f"{where}: source: {source!r} leaves the configurations folder")
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise file.error(line, f"{where}: source: cannot read {target}: {exc.strerror}") from None
    file.sources.append((source, raw))
    return _decode(file, raw, line, f"{where}: source: {target}")


def _requires(
    file: _File, where: str, entry: MarkedMapping, earlier: list[Resource]
) -> tuple[str, ...]:
    """Ids of the earlier resources `requires:` names, by id or unambiguous identity."""
    value, line = entry["requires"], entry.line_of("requires")
    names, lines = [value], [line]
    if isinstance(value, MarkedList):
        names, lines = value, value.lines
    if not names or not all(isinstance(name, str) for name in names):
        raise file.error(
            line, f"{where}: requires: must name earlier resources (e.g. file:/etc/motd)"
        )
    ids: list[str] = []
    for name, name_line in zip(names, lines, strict=True):
        resolved = _resolve(file, where, name, name_line, earlier)
        if resolved not in ids:
            ids.append(resolved)
    return tuple(ids)


def _resolve(file: _File, where: str, name: str, line: int, earlier: list[Resource]) -> str:
    if any(resource.id == name for resource in earlier):
        return name
    matches = [resource.id for resource in earlier if resource.identity == name]
    if len(matches) > 1:
        raise file.error(
            line, f"{where}: requires: {name!r} is ambiguous ({', '.join(matches)}): use the id"
        )
    if not matches:
        raise file.error(
            line,
            f"{where}: requires: {name!r} names no earlier resource "
            "(resources apply in order: a resource may require only those above it)",
        )
    return matches[0]


# ----------------------------------------------------------------------- the folder


def load_all(folder: Path | None) -> tuple[list[Configuration], list[ConfigurationInfo]]:
    """Every configuration of `folder` that loads, and an info for every file (with the
    problem of those that do not), so one broken file never hides the others. Files
    starting with `.` (editors' swap and lock files) are not configurations."""
    if folder is None or not folder.is_dir():
        return [], []
    try:
        names = sorted(folder.iterdir(), key=lambda path: (path.stem, path.suffix))
    except OSError as exc:
        raise ConfigurationError(str(folder), None, f"cannot list: {exc.strerror}") from None
    paths = [p for p in names if p.suffix in SUFFIXES and p.name[0] != "." and p.is_file()]
    configurations: list[Configuration] = []
    infos: list[ConfigurationInfo] = []
    first_of: dict[str, Path] = {}
    for path in paths:
        try:
            if path.stem in first_of:
                raise ConfigurationError(
                    str(path), None, f"{first_of[path.stem].name} has the same name: rename one"
                )
            first_of[path.stem] = path
            configuration = load_configuration(path)
        except ConfigError as exc:
            infos.append(ConfigurationInfo(name=path.stem, path=str(path), problem=exc.message))
            continue
        configurations.append(configuration)
        infos.append(info_of(configuration))
    return configurations, infos


def info_of(configuration: Configuration) -> ConfigurationInfo:
    """What `state validate` and the console list for a configuration that loaded."""
    return ConfigurationInfo(
        name=configuration.name,
        path=str(configuration.path),
        targets=configuration.targets,
        mode=configuration.mode.value,
        frequency_s=configuration.frequency_s,
        description=configuration.description,
        resources=len(configuration.resources),
    )
