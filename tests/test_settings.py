"""Where opsconsole looks for its inventory and runbooks with nothing configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.settings import SAMPLE_INVENTORY, SAMPLE_RUNBOOKS, Settings


def test_a_fresh_directory_gets_the_shipped_sample_and_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("OPSCONSOLE_INVENTORY", "OPSCONSOLE_RUNBOOKS", "OPSCONSOLE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings.resolve()
    assert settings.inventory == SAMPLE_INVENTORY
    assert settings.runbooks == SAMPLE_RUNBOOKS
    assert settings.data_dir == tmp_path / "xdg" / "opsconsole"


def test_local_files_win_over_the_samples_and_env_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.yaml").write_text("all: {}\n")
    (tmp_path / "runbooks").mkdir()
    monkeypatch.delenv("OPSCONSOLE_INVENTORY", raising=False)
    monkeypatch.setenv("OPSCONSOLE_RUNBOOKS", "/srv/books")
    settings = Settings.resolve()
    assert settings.inventory == Path("inventory.yaml")
    assert settings.runbooks == Path("/srv/books")
    assert Settings.resolve(runbooks="cli-books").runbooks == Path("cli-books")
