"""Where opsconsole finds its inventory, runbooks, configurations and data directory.

Every global option has an environment variable so that a systemd unit, a jumpbox
`ForceCommand` or a CI job can configure it without a wrapper script.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SAMPLE_INVENTORY = Path(__file__).resolve().parent.parent / "sample-inventory.yaml"
SAMPLE_RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"


def default_inventory() -> Path:
    """`./inventory.yaml` when present, else the shipped sample so a first run just works."""
    local = Path("inventory.yaml")
    return local if local.exists() else SAMPLE_INVENTORY


def default_runbooks() -> Path:
    """`./runbooks` when present, else the shipped examples."""
    local = Path("runbooks")
    return local if local.is_dir() or not SAMPLE_RUNBOOKS.is_dir() else SAMPLE_RUNBOOKS


def default_configurations() -> Path | None:
    """`./configurations` when present, else none: desired state is opt-in."""
    local = Path("configurations")
    return local if local.is_dir() else None


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opsconsole"


@dataclass(frozen=True)
class Settings:
    inventory: Path
    data_dir: Path
    runbooks: Path
    # The desired-state configurations folder (docs/state.md); None: no configurations.
    configurations: Path | None = None

    @classmethod
    def resolve(
        cls,
        inventory: str | None = None,
        data_dir: str | None = None,
        runbooks: str | None = None,
        configurations: str | None = None,
    ) -> Settings:
        """Command-line value first, then the environment variable, then the default."""
        inv = inventory or os.environ.get("OPSCONSOLE_INVENTORY")
        data = data_dir or os.environ.get("OPSCONSOLE_DATA_DIR")
        books = runbooks or os.environ.get("OPSCONSOLE_RUNBOOKS")
        configs = configurations or os.environ.get("OPSCONSOLE_CONFIGURATIONS")
        return cls(
            inventory=Path(inv) if inv else default_inventory(),
            data_dir=Path(data) if data else default_data_dir(),
            runbooks=Path(books) if books else default_runbooks(),
            configurations=Path(configs) if configs else default_configurations(),
        )
