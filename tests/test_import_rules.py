"""The architecture's import rules, enforced (as Harlequin does with import-linter).

- The engine (`console/`) and the plugins never import Textual: `opsconsole serve`
  runs without it, and a UI bug can never take the engine down.
- Plugins know only the plugin interface, never the engine's internals.
- `screens/` holds no business logic: it reaches the engine through the client
  interface (`console.engine.client`) and plain data modules, never the runner or the store.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The one door from the engine's package to the UI: the `opsconsole tui` command, which
# imports the app only when it runs (so `opsconsole serve` never loads Textual).
UI_DOOR = ROOT / "console" / "cli" / "tui_cmd.py"
# What a plugin may import from the engine: the plugin interface and its data types.
PLUGIN_ALLOWED = {"console.runbooks.plugin_api"}
# Engine internals the UI must never reach around the client interface.
UI_FORBIDDEN = (
    "console.jobs.runner",
    "console.store",
    "console.transports",
    "console.schedules.scheduler",
    "console.webhooks.http",
    "console.engine.control",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_engine_and_plugins_never_import_textual_in_source() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("console", "plugins")
        for path in _sources(package)
        if path != UI_DOOR
        for name in _imports(path)
        if name.split(".")[0] in ("textual", "screens")
    ]
    assert offenders == []


def test_importing_the_whole_engine_loads_no_textual() -> None:
    """Also catches an indirect import through a third-party module."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for package in ("console", "plugins")
        for p in _sources(package)
        if p.name != "__main__.py"
    ]
    script = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'screens')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_plugins_use_only_the_plugin_interface() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources("plugins")
        for name in _imports(path)
        if name.startswith("console") and name not in PLUGIN_ALLOWED
    ]
    assert offenders == []


def test_screens_reach_the_engine_only_through_the_client() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources("screens")
        for name in _imports(path)
        if name.startswith(UI_FORBIDDEN)
    ]
    assert offenders == []
