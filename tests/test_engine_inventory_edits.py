"""The engine keeps host selections per inventory: an edited inventory file is used at
once, by the host list and by the next job's target."""

from __future__ import annotations

import os
from pathlib import Path

from console.engine.core import Engine
from console.settings import Settings

BEFORE = (
    "all:\n  children:\n    web:\n      hosts:\n"
    "        web1:\n          ansible_connection: local\n"
)
AFTER = BEFORE + "        web2:\n          ansible_connection: local\n"


async def test_an_edited_inventory_changes_the_hosts_a_pattern_selects(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(BEFORE)
    engine = Engine(Settings(inventory, tmp_path / "data", tmp_path / "runbooks"))
    await engine.start()
    try:
        assert [h.name for h in engine.hosts("web")] == ["web1"]
        engine.hosts("web").clear()  # a caller's list is its own: the kept one is intact
        assert [h.name for h in engine.hosts("web")] == ["web1"]
        inventory.write_text(AFTER)
        os.utime(inventory, ns=(1, 1))  # a new mtime even on a coarse clock
        assert [h.name for h in engine.hosts("web")] == ["web1", "web2"]
        job = await engine.start_command("web", "true")
        assert job.hosts == ["web1", "web2"]
    finally:
        await engine.close()
