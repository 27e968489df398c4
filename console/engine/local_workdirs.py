"""Where the engine's `local` host runs make their work folders: `<data dir>/work`.

A host run removes its work folder when it ends, but an engine killed mid-run cannot,
and the folder may hold a runbook and the data a webhook posted. The data-directory
lock admits one writing engine, so whatever that folder holds when one starts was
left by a killed one: it goes. (A worker, which has no data directory, uses the
system's temporary folder.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

FOLDER = "work"


def fresh_local_workdirs(data_dir: Path) -> Path:
    """The emptied work folder of the engine that holds `data_dir`'s writer lock."""
    folder = data_dir / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    return folder
