"""Operator key remapping: a TOML file mapping command ids to keys.

    # ~/.config/opsconsole/keys.toml
    [keys]
    palette = "ctrl+k"      # ctrl+p is taken by tmux on this jumpbox
    "job.stop" = "ctrl+x"

The file is looked up at `$OPSCONSOLE_KEYS`, else `$XDG_CONFIG_HOME/opsconsole/keys.toml`
(default `~/.config/opsconsole/keys.toml`). A top-level mapping without `[keys]` works too.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from console.errors import ConfigError
from screens.commands import COMMANDS


def default_keymap_path() -> Path:
    explicit = os.environ.get("OPSCONSOLE_KEYS")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opsconsole" / "keys.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Command id -> key. A missing file is an empty keymap; a bad one is a ConfigError
    that names the file and the offending entry."""
    path = path or default_keymap_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read key map: {exc}") from exc
    table = data.get("keys", data)
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: [keys] must be a table of command id = "key"')
    known = {c.id for c in COMMANDS}
    keymap: dict[str, str] = {}
    for command_id, key in table.items():
        if command_id not in known:
            raise ConfigError(
                f"{path}: unknown command id {command_id!r} (known: {', '.join(sorted(known))})"
            )
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{path}: key for {command_id!r} must be a non-empty string")
        keymap[command_id] = key.strip()
    return keymap
