"""An inventory file that is re-read when it changes on disk.

Operators edit their inventory while the console runs; the engine and an attached
client both see the new hosts on the next call, and never a half-written file
(a file that fails to load keeps the last good inventory and raises the error).
"""

from __future__ import annotations

from pathlib import Path

from console.inventory import Inventory, load_inventory


class LiveInventory:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._inventory: Inventory | None = None
        self._stamp: tuple[float, int] | None = None

    def current(self) -> Inventory:
        try:
            info = self.path.stat()
            stamp: tuple[float, int] | None = (info.st_mtime, info.st_size)
        except FileNotFoundError:
            stamp = None  # load_inventory names the missing file
        if self._inventory is None or stamp != self._stamp:
            self._inventory = load_inventory(self.path)
            self._stamp = stamp
        return self._inventory
