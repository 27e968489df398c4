"""The real `opsconsole` in a real terminal: tmux at 80x24 with TERM=xterm.

Types keys, reads the screen with `tmux capture-pane -p`, checks that it renders and
switches panes, and that quitting ends the process with status 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INVENTORY = """all:
  children:
    web:
      hosts:
        web01: {ansible_connection: local}
        web02: {ansible_connection: local}
    db:
      hosts:
        db01: {ansible_connection: local}
"""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True,
                          text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; screen was:\n{shown}")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is required for this test (apt-get install tmux)")
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "runbooks").mkdir()
    status = tmp_path / "status"
    name = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
    env = {"TERM": "xterm", "OPSCONSOLE_INVENTORY": str(tmp_path / "inventory.yaml"),
           "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"),
           "OPSCONSOLE_RUNBOOKS": str(tmp_path / "runbooks"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT),
           "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    command = f"env -i {exports} {sys.executable} -m console; echo $? > {status}; sleep 60"
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command)
    try:
        yield name, status
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_console_in_tmux_at_80x24(session: tuple[str, Path]) -> None:
    name, status = session
    shown = wait_for(name, "3 of 3 hosts")
    assert "1 Inventory" in shown and "4 Jobs" in shown and "web01" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())
    coloured = tmux("capture-pane", "-p", "-e", "-t", name)
    assert "\x1b[" in coloured
    assert "38;2;" not in coloured and "38;5;" not in coloured  # 16 colours only
    tmux("send-keys", "-t", name, "4")
    wait_for(name, "No jobs yet")
    tmux("send-keys", "-t", name, "2")
    wait_for(name, "configuration drift per host")
    tmux("send-keys", "-t", name, "1")
    tmux("send-keys", "-t", name, "/")
    wait_for(name, "filter: name, group, or pattern")  # the field is open and focused
    time.sleep(0.2)
    tmux("send-keys", "-t", name, "-l", "db")
    wait_for(name, "1 of 3 hosts matching 'db'")
    tmux("send-keys", "-t", name, "Escape")
    time.sleep(0.5)  # a lone Esc, not the start of an alt+key sequence
    tmux("send-keys", "-t", name, "q")
    deadline = time.monotonic() + 15
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.read_text().strip() == "0", screen(name)
