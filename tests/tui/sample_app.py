"""The console over the sample data: `python -m tests.tui.sample_app` to look at it."""

from __future__ import annotations

import os
import time

from screens.app import OpsConsoleApp
from tests.tui.sample_client import SampleClient


def sample_app() -> OpsConsoleApp:
    os.environ["TZ"] = "UTC"  # job times in snapshots must not depend on the machine
    time.tzset()
    return OpsConsoleApp(SampleClient())


if __name__ == "__main__":
    raise SystemExit(sample_app().run() or 0)
