"""Language plugins: entry-point discovery without imports, broken plugins, a third party."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.errors import ConfigError, UsageError
from console.inventory.model import Host
from console.runbooks.catalog import RunbookCatalog
from console.runbooks.languages import LanguageRegistry
from console.runbooks.plugin_api import TargetInfo
from tests.runbooks.conftest import RunInvocation, make_site, on_sys_path

REPO = Path(__file__).resolve().parents[2]

LISTING = """
import json, sys
from console.runbooks.languages import LanguageRegistry
from console.runbooks.catalog import RunbookCatalog

def plugin_modules():
    return sorted(m for m in sys.modules
                  if m.startswith("plugins.") or m.startswith("opsconsole_strictsh"))

registry = LanguageRegistry()
report = {"names": registry.names(), "suffixes": registry.suffix_table(),
          "after_listing": plugin_modules()}
RunbookCatalog(sys.argv[1], registry).scan()
report["after_scanning_a_shell_only_folder"] = plugin_modules()
print(json.dumps(report))
"""


def test_listing_names_and_suffixes_imports_no_plugin(
    thirdparty_site: Path, tmp_path: Path
) -> None:
    """A fresh interpreter, so modules imported by other tests cannot hide an import."""
    (tmp_path / "hello.sh").write_text("echo hello\n")
    (tmp_path / "notes.txt").write_text("not a runbook\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(thirdparty_site), str(REPO)])}
    result = subprocess.run(
        [sys.executable, "-c", LISTING, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert set(report["names"]) == {"shell", "python", "powershell", "strict-sh"}
    assert report["suffixes"] == {
        ".sh": "shell",
        ".py": "python",
        ".ps1": "powershell",
        ".strict.sh": "strict-sh",
    }
    assert report["after_listing"] == []
    # Scanning loads exactly the languages the folder's files need.
    assert report["after_scanning_a_shell_only_folder"] == ["plugins.shell"]


def test_builtins_load_on_demand_and_are_cached() -> None:
    registry = LanguageRegistry()
    shell = registry.get("shell")
    assert registry.get("shell") is shell
    assert shell.name == "shell" and shell.suffixes == (".sh",)
    assert [registry.get(n).suffixes for n in ("python", "powershell")] == [(".py",), (".ps1",)]
    with pytest.raises(UsageError, match="no runbook language named 'perl'"):
        registry.get("perl")


def test_broken_plugins_are_reported_and_skipped(broken_site: Path, tmp_path: Path) -> None:
    registry = LanguageRegistry()
    # A missing module and a syntax error show at listing time, without importing anything.
    listed = {b.name: b.error for b in registry.broken_plugins()}
    assert listed["missing"].startswith("ModuleNotFoundError")
    assert listed["syntax"].startswith("SyntaxError")
    assert "opsconsole_broken_raises" not in sys.modules
    assert {"raises", "not-a-language", "shell"} <= set(registry.names())

    for name in ("a.raises", "b.thing", "c.sh"):
        (tmp_path / name).write_text("echo\n")
    scan = RunbookCatalog(tmp_path, registry).scan()

    assert [r.name for r in scan.runbooks] == ["c"]
    broken = {b.name: b.error for b in registry.broken_plugins()}
    assert broken["raises"] == "RuntimeError: this plugin is broken on purpose"
    assert (
        "is not a subclass of console.runbooks.plugin_api.RunbookLanguage"
        in broken["not-a-language"]
    )
    assert set(broken) == {"missing", "syntax", "raises", "not-a-language"}
    assert "raises" not in registry.names()
    with pytest.raises(ConfigError, match=r"'raises'.*RuntimeError"):
        registry.get("raises")
    assert "runbook language 'syntax' (opsconsole_broken_syntax:SyntaxLanguage): SyntaxError" in (
        str(next(b for b in registry.broken_plugins() if b.name == "syntax"))
    )


DYNAMIC = """\
from console.runbooks.plugin_api import Invocation, RunbookLanguage

class DynamicLanguage(RunbookLanguage):
    suffixes = tuple(["." + "dyn"])  # not a literal: known only once imported

    def build_invocation(self, runbook, params, target, workdir, webhook_data):
        return Invocation(command="true")
"""


def test_a_plugin_with_computed_suffixes_is_imported_when_a_file_needs_it(
    tmp_path: Path,
) -> None:
    site = make_site(
        tmp_path / "site",
        "opsconsole-dynamic",
        "[opsconsole.runbook_languages]\ndyn = opsconsole_dynamic:DynamicLanguage\n",
        {"opsconsole_dynamic.py": DYNAMIC},
    )
    with on_sys_path(site, ("opsconsole_dynamic",)):
        registry = LanguageRegistry()
        assert ".dyn" not in registry.suffix_table()
        assert "opsconsole_dynamic" not in sys.modules
        (tmp_path / "job.dyn").write_text("anything\n")
        runbook = RunbookCatalog(tmp_path, registry).get("job")
        assert runbook.language == "dyn"
        assert registry.suffix_table()[".dyn"] == "dyn"


STRICT_RUNBOOK = """\
# /// runbook
# description = "greets, then trips over an unset variable"
# [parameters.who]
# required = true
# ///
printf 'hello %s\\n' "$OPS_PARAM_WHO"
printf '::warning::strict mode is on\\n'
printf 'never printed %s\\n' "$UNSET_VARIABLE"
"""


def test_thirdparty_plugin_is_discovered_and_runs(
    thirdparty_site: Path, tmp_path: Path, run_invocation: RunInvocation
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "greet.strict.sh").write_text(STRICT_RUNBOOK)
    (books / "plain.sh").write_text("echo plain\n")
    registry = LanguageRegistry()
    catalog = RunbookCatalog(books, registry)

    runbook = catalog.get("greet")  # `.strict.sh` beats the shell plugin's `.sh`
    assert (runbook.language, catalog.get("plain").language) == ("strict-sh", "shell")
    assert registry.broken_plugins() == []

    workdir = tmp_path / "work"
    invocation = catalog.build_invocation(runbook, {"who": "world"}, TargetInfo(), str(workdir))
    assert "sh -eu" in invocation.command and "world" not in invocation.command
    run = run_invocation(invocation, workdir)

    assert run.stream("output") == ["hello world"]
    assert run.stream("warning") == ["strict mode is on"]
    assert run.code != 0 and any("UNSET_VARIABLE" in line for line in run.stream("error"))


@pytest.mark.parametrize(
    ("host_vars", "expected"),
    [
        ({}, TargetInfo("unknown", "ssh")),
        ({"ansible_os_family": "Debian"}, TargetInfo("linux", "ssh")),
        ({"ansible_os_family": "Windows"}, TargetInfo("windows", "ssh")),
        ({"ansible_connection": "winrm"}, TargetInfo("windows", "winrm")),
        ({"ansible_connection": "local"}, TargetInfo("linux", "local")),
    ],
)
def test_target_info_from_inventory_host(host_vars: dict[str, str], expected: TargetInfo) -> None:
    target = TargetInfo.from_host(Host("h1", host_vars))
    assert target == expected
    assert target.windows is (expected.os_family == "windows")
