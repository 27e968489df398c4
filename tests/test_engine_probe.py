"""The console's probe: one host's problem is that host's answer, never an exception."""

from __future__ import annotations

from pathlib import Path

from console.engine.core import Engine
from console.settings import Settings


async def test_probe_reports_each_host_even_one_it_cannot_reach(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    here:\n      ansible_connection: local\n"
        "    win01:\n      ansible_connection: winrm\n"
    )
    engine = Engine(Settings(inventory, tmp_path / "data", tmp_path / "runbooks"))
    await engine.start()
    try:
        here, win = await engine.probe(["here", "win01"])
    finally:
        await engine.close()
    assert here.reachable and here.os.startswith("Linux")
    assert not win.reachable and "WinRM needs a login" in win.error
