"""Fixtures for console tests: the app over the real engine and a seeded data directory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.settings import Settings
from screens.app import OpsConsoleApp
from tests.tui.seed import console_app, seed_changes, seed_data_dir, settings_for
from tests.tui.seed_state import CONFIGURATIONS, seed_state
from tests.tui.seed_updates import seed_updates


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen are local times: pin the zone so they read the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def seeded(tmp_path: Path) -> Settings:
    """Settings over the fixed inventory, runbooks, a seeded job history and two
    collections of the prod hosts (so changes exist)."""
    data_dir = tmp_path / "data"
    seed_data_dir(data_dir)
    seed_changes(data_dir)
    return settings_for(data_dir)


@pytest.fixture
def drift_seeded(tmp_path: Path) -> Settings:
    """The job history of `seeded`, the configurations of tests/tui/data/configurations
    and a report per host but db02 (tests/tui/seed_state.py): each node status once.
    Apart from `seeded`, whose console has no configuration (the pane's hint)."""
    data_dir = tmp_path / "data"
    seed_data_dir(data_dir)
    seed_state(data_dir)
    return settings_for(data_dir, CONFIGURATIONS)


@pytest.fixture
def updates_seeded(tmp_path: Path) -> Settings:
    """The job history of `seeded` plus a deployment run and its results, and the
    assessments of tests/tui/seed_updates.py (compliant, not, failed, never assessed)."""
    data_dir = tmp_path / "data"
    seed_updates(data_dir)
    return settings_for(data_dir)


@pytest.fixture
def app(seeded: Settings) -> OpsConsoleApp:
    return console_app(seeded)
