"""The architecture's import rules, enforced (docs/architecture.md draws them).

The layers are import-linter contracts in pyproject.toml: the engine (`console/`) and
the plugins never import Textual or `screens/`; plugins import only the plugin API;
`screens/` reaches the engine only through the client interface and plain data;
domain packages never import the engine or the CLI; no package cycles. `make lint`
runs them, and so does this suite, so a broken layer fails the tests too. What
import-linter cannot see is checked here at run time: modules third-party packages
load on our behalf, and the exact set of modules a plugin pulls in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("console", "screens", "plugins")
# Everything of opsconsole a plugin may load by importing the plugin API.
PLUGIN_API_CLOSURE = {
    "console",
    "console.errors",
    "console.runbooks",
    "console.runbooks.asset_env",  # the OPS_PARAM_* names of an asset parameter's values
    "console.runbooks.metadata",
    "console.runbooks.parameters",
    "console.runbooks.plugin_api",
}


def _loaded_after(imports: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with `prefixes` that a fresh interpreter holds once it has
    imported `imports`."""
    script = (
        "import importlib, sys\n"
        f"for m in {imports!r}: importlib.import_module(m)\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def test_the_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_reaches_itself_through_its_imports() -> None:
    """Every import a -> b: b must not lead back to a, directly or through others.
    Imports inside functions and under TYPE_CHECKING count: hiding one does not
    break a cycle."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = [
        " -> ".join((importer, *chain))
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if (chain := graph.find_shortest_chain(importer=imported, imported=importer))
    ]
    assert cycles == []


def test_importing_the_whole_engine_loads_no_textual() -> None:
    """Also catches an indirect import through a third-party module."""
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in ("console", "plugins")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py"
    ]
    assert _loaded_after(modules, ("textual", "screens")) == []


def test_the_plugin_api_and_the_builtin_plugins_load_nothing_of_the_engine() -> None:
    loaded = _loaded_after(
        ["console.runbooks.plugin_api", "plugins.shell", "plugins.python", "plugins.powershell"],
        ("console",),
    )
    assert set(loaded) == PLUGIN_API_CLOSURE
