"""Finding runbook-language plugins by entry point, and loading each on first use.

A language is a class deriving from `console.runbooks.plugin_api.RunbookLanguage`,
registered by any installed distribution under the entry-point group
`opsconsole.runbook_languages`; the built-ins (`plugins.shell`, `plugins.python`,
`plugins.powershell`) register the same way in opsconsole's own pyproject.toml:

    [project.entry-points."opsconsole.runbook_languages"]
    shell = "plugins.shell:ShellLanguage"

Listing plugins imports none of them. Names come from the entry points; suffixes are
read from the plugin's source without running it: a class attribute written as a
literal, `suffixes = (".sh",)`, is found with `ast` (the trick setuptools uses for
`version = attr: pkg.__version__`). A plugin whose suffixes are not a literal is
imported only when a file with a suffix nobody declared needs a language. A plugin
that fails to import, or is not a `RunbookLanguage`, is listed by `broken_plugins()`
and skipped; it never stops the others.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from console.errors import ConfigError, UsageError
from console.runbooks.plugin_api import RunbookLanguage

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "opsconsole.runbook_languages"


@dataclass(frozen=True)
class LanguageEntry:
    """A registered language as known without importing it."""

    name: str
    value: str  # "module:Class"
    distribution: str | None
    suffixes: tuple[str, ...] | None  # None: not a literal in the source, known on load

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].strip()


@dataclass(frozen=True)
class BrokenPlugin:
    name: str
    value: str
    error: str

    def __str__(self) -> str:
        return f"runbook language {self.name!r} ({self.value}): {self.error}"


class LanguageRegistry:
    """The installed languages; loads each on first use and caches it."""

    def __init__(self, eps: list[EntryPoint] | None = None) -> None:
        if eps is None:
            from importlib.metadata import entry_points  # slow to import; `exec` needs none

            eps = list(entry_points(group=ENTRY_POINT_GROUP))
        self._entries: dict[str, LanguageEntry] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._broken_suffixes: dict[str, str] = {}  # suffix -> name of a plugin that failed
        self._loaded: dict[str, RunbookLanguage] = {}
        for ep in sorted(eps, key=_builtin_first):
            self._register(ep)

    def _register(self, ep: EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else None
        if ep.name in self._entries:
            other = self._entries[ep.name]
            self._broken[f"{ep.name}@{dist}"] = BrokenPlugin(
                ep.name,
                ep.value,
                f"the name is already taken by {other.value} "
                f"(from {other.distribution}); this one is ignored",
            )
            return
        try:
            suffixes = _static_suffixes(ep.value)
        except Exception as exc:  # a broken plugin must never stop the others
            self._broken[ep.name] = BrokenPlugin(ep.name, ep.value, _describe(exc))
            return
        self._entries[ep.name] = LanguageEntry(ep.name, ep.value, dist, suffixes)

    def entries(self) -> list[LanguageEntry]:
        """Every usable-looking language, without importing any plugin module."""
        return list(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def suffix_table(self) -> dict[str, str]:
        """suffix → language name, from source literals and already loaded plugins."""
        table: dict[str, str] = {}
        for entry in self._entries.values():
            loaded = self._loaded.get(entry.name)
            for suffix in loaded.suffixes if loaded else entry.suffixes or ():
                table.setdefault(suffix.lower(), entry.name)
        return table

    def broken_plugins(self) -> list[BrokenPlugin]:
        return list(self._broken.values())

    def get(self, name: str) -> RunbookLanguage:
        """The language called `name`, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._entries.get(name)
        if entry is None:
            broken = self._broken.get(name)
            if broken is not None:
                raise ConfigError(str(broken))
            known = ", ".join(self._entries) or "none"
            raise UsageError(f"no runbook language named {name!r} (installed: {known})")
        language = self._load(entry)
        if language is None:
            raise ConfigError(str(self._broken[name]))
        return language

    def language_for(self, file_name: str) -> tuple[RunbookLanguage, str] | None:
        """The language of a file and the suffix that chose it (longest suffix wins)."""
        suffix = self._match(file_name)
        if suffix is None and self._load_undeclared():
            suffix = self._match(file_name)
        if suffix is None:
            return None
        name = self.suffix_table()[suffix]
        language = self._load(self._entries[name])
        return (language, suffix) if language is not None else None

    def broken_for(self, file_name: str) -> BrokenPlugin | None:
        """The broken plugin that declared this file's suffix, so a runbook it would have
        run is reported with the plugin's error instead of silently vanishing."""
        lowered = file_name.lower()
        fits = [s for s in self._broken_suffixes if lowered.endswith(s) and lowered != s]
        return self._broken.get(self._broken_suffixes[max(fits, key=len)]) if fits else None

    def _match(self, file_name: str) -> str | None:
        lowered = file_name.lower()
        fits = [s for s in self.suffix_table() if lowered.endswith(s) and len(lowered) > len(s)]
        return max(fits, key=len) if fits else None

    def _load_undeclared(self) -> bool:
        """Import the plugins whose suffixes were not literals; True if any loaded."""
        pending = [
            e for e in self._entries.values() if e.suffixes is None and e.name not in self._loaded
        ]
        loaded = [self._load(entry) for entry in pending]  # load all, not just the first
        return any(language is not None for language in loaded)

    def _load(self, entry: LanguageEntry) -> RunbookLanguage | None:
        if entry.name in self._loaded:
            return self._loaded[entry.name]
        try:
            language = _instantiate(entry)
        except Exception as exc:  # ImportError, SyntaxError, errors raised by the plugin
            self._entries.pop(entry.name, None)
            self._broken[entry.name] = BrokenPlugin(entry.name, entry.value, _describe(exc))
            for suffix in entry.suffixes or ():
                self._broken_suffixes.setdefault(suffix.lower(), entry.name)
            return None
        self._loaded[entry.name] = language
        return language


@cache
def default_registry() -> LanguageRegistry:
    """The registry of the installed plugins, built once per process."""
    return LanguageRegistry()


def _builtin_first(ep: EntryPoint) -> tuple[bool, str]:
    """opsconsole's own languages win name and suffix clashes; others go by name."""
    return (ep.dist is None or ep.dist.name != "opsconsole", ep.name)


def _instantiate(entry: LanguageEntry) -> RunbookLanguage:
    module = importlib.import_module(entry.module)
    cls = module
    for part in entry.attr.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, RunbookLanguage)):
        raise TypeError(
            f"{entry.value} is not a subclass of console.runbooks.plugin_api.RunbookLanguage"
        )
    language = cls()
    language.name = entry.name
    if not language.suffixes or not all(
        isinstance(s, str) and s.startswith(".") for s in language.suffixes
    ):
        raise TypeError(f"{entry.value}.suffixes must be a tuple like ('.sh',)")
    return language


def _static_suffixes(value: str) -> tuple[str, ...] | None:
    """The literal `suffixes = (...)` of the plugin class, read from its source.

    Finding the source may import the module's parent packages (not the module). A
    missing module or a syntax error raises, so the plugin is reported broken at once.
    """
    module, _, attr = (part.strip() for part in value.partition(":"))
    if not attr:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {module!r}")
    loader = spec.loader
    get_source = getattr(loader, "get_source", None)
    source = get_source(module) if get_source is not None else None
    if source is None:
        return None
    tree = ast.parse(source, filename=spec.origin or module)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attr.split(".")[-1]:
            return _suffixes_in(node)
    return None


def _suffixes_in(node: ast.ClassDef) -> tuple[str, ...] | None:
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "suffixes" for t in targets):
            try:
                found = ast.literal_eval(value)
            except ValueError:
                return None
            if isinstance(found, tuple | list) and all(isinstance(s, str) for s in found):
                return tuple(found)
            return None
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
