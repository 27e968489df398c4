"""Fixtures for console tests: the app over deterministic sample data."""

from __future__ import annotations

import pytest

from screens.app import OpsConsoleApp
from tests.tui.sample_app import sample_app


@pytest.fixture
def app() -> OpsConsoleApp:
    return sample_app()
