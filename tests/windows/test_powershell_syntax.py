"""Every PowerShell script the console sends to Windows hosts parses as PowerShell.

No Windows host is available here, so a script is never run by PowerShell in the
tests; a syntax error (an unclosed brace, a stray quote from a substituted value)
would otherwise show only on a real host. The tree-sitter PowerShell grammar is
stricter than PowerShell in one way: it does not take bare-word lists (`-Property
a,b`), so the scripts quote such lists ('a','b'), which PowerShell reads the same.
"""

from __future__ import annotations

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from console.changes.model import TrackedPath
from console.changes.windows_collector import SCRIPTS
from console.changes.windows_tracked import tracked_scripts
from console.updates.wua_script import assess_script, install_script, install_task_script
from console.windows.powershell import script_name
from console.windows.reboot import BOOT_TIME, reboot_script

PARSER = Parser(Language(tree_sitter_powershell.language()))
ODD_PATHS = [TrackedPath("C:\\Users\\O'Brien\\notes.txt"), TrackedPath("HKLM:\\SOFTWARE\\{x}")]
ALL_SCRIPTS = [
    *SCRIPTS.values(),
    *tracked_scripts(ODD_PATHS, 1024),
    assess_script(True),
    assess_script(False),
    install_script(["6b29fc40-ca47-1067-b31d-00dd010662da"] * 3, 3600),
    install_script(["6b29fc40-ca47-1067-b31d-00dd010662da"], 3600, "C:\\T\\O'Brien.json"),
    install_task_script(
        ["6b29fc40-ca47-1067-b31d-00dd010662da"], "C:\\T\\a b.ps1", "C:\\T\\r.json"
    ),
    BOOT_TIME,
    reboot_script("shutdown /r /t 5 /c 'patched; rebooting'"),
]


def syntax_errors(node: Node) -> list[str]:
    found = [] if not (node.type == "ERROR" or node.is_missing) else [f"{node.start_point}"]
    return found + [error for child in node.children for error in syntax_errors(child)]


@pytest.mark.parametrize(
    "script", ALL_SCRIPTS, ids=[f"{n}-{script_name(s)}" for n, s in enumerate(ALL_SCRIPTS)]
)
def test_the_script_parses_as_powershell(script: str) -> None:
    tree = PARSER.parse(script.encode())
    assert syntax_errors(tree.root_node) == []


def test_the_check_finds_a_broken_script() -> None:
    broken = SCRIPTS["facts"].replace("$r=[ordered]@{", "$r=[ordered]@{{", 1)
    assert syntax_errors(PARSER.parse(broken.encode()).root_node) != []
