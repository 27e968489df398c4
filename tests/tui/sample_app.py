"""The console over the tests' seeded data directory, to look at it by hand:

    .venv/bin/python -m tests.tui.sample_app

It runs the real engine on a temporary copy of the seeded data (deleted on exit).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.tui.seed import console_app, seed_data_dir, settings_for


def main() -> int:
    os.environ["TZ"] = "UTC"  # the same times as the snapshots
    time.tzset()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        seed_data_dir(data_dir)
        return int(console_app(settings_for(data_dir)).run() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
