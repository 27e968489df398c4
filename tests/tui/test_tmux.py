"""The real `opsconsole` in a real terminal: tmux at 80x24 with TERM=xterm.

Types keys, reads the screen with `tmux capture-pane -p`, checks that it renders and
switches panes, that a runbook is started from the run dialog with the keyboard alone
and completes on a local host, and that quitting ends the process with status 0.
Keys are sent as a terminal user would type them; `send-keys -l` with several
characters delivers them in one write, as a fast typist or a laggy link does.
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

GREET = """#!/bin/sh
# /// runbook
# description = "Say hello"
# target = "web"
#
# [parameters.name]
# type = "string"
# default = "world"
#
# [parameters.loud]
# type = "bool"
# default = false
# ///
greeting=hello
[ "$OPS_PARAM_LOUD" = true ] && greeting=HELLO
echo "$greeting $OPS_PARAM_NAME"
"""


# A tmux server of this test run's own: other runs and the user's sessions stay apart.
SERVER = f"opsconsole-tests-{os.getpid()}"


def tmux(*args: str) -> str:
    command = ["tmux", "-L", SERVER, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; screen was:\n{shown}")


@pytest.fixture(scope="module")
def tmux_server() -> Iterator[None]:
    """The test run's tmux server, kept up between tests by a session of its own: a
    server whose last session ended exits, and a `new-session` racing that exit fails."""
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is required for this test (apt-get install tmux)")
    tmux("new-session", "-d", "-s", "keepalive", "sleep 3600")
    try:
        yield
    finally:
        subprocess.run(["tmux", "-L", SERVER, "kill-server"], capture_output=True)


@pytest.fixture
def session(tmp_path: Path, tmux_server: None) -> Iterator[tuple[str, Path]]:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "greet.sh").write_text(GREET)
    status = tmp_path / "status"
    name = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
    env = {
        "TERM": "xterm",
        "OPSCONSOLE_INVENTORY": str(tmp_path / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"),
        "OPSCONSOLE_RUNBOOKS": str(tmp_path / "runbooks"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
    }
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    command = f"env -i {exports} {sys.executable} -m console; echo $? > {status}; sleep 60"
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command)
    try:
        yield name, status
    finally:
        subprocess.run(["tmux", "-L", SERVER, "kill-session", "-t", name], capture_output=True)


def keys(session: str, *pressed: str) -> None:
    """Key names (Enter, Tab, C-s) one by one, with a human's pause after each."""
    for key in pressed:
        tmux("send-keys", "-t", session, key)
        time.sleep(0.15)


def typed(session: str, text: str) -> None:
    """Text in one write, as a terminal delivers a burst of typing."""
    tmux("send-keys", "-t", session, "-l", text)
    time.sleep(0.15)


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
    wait_for(name, "Drift: no desired-state configuration.")
    tmux("send-keys", "-t", name, "1")
    typed(name, "/db")  # `/` and the text in one write: none of it is lost
    wait_for(name, "1 of 3 hosts matching 'db'")
    tmux("send-keys", "-t", name, "Escape")
    time.sleep(0.5)  # a lone Esc, not the start of an alt+key sequence
    wait_for(name, "Esc clear filter")  # back on the list, the filter kept
    tmux("send-keys", "-t", name, "Escape")
    wait_for(name, "3 of 3 hosts")
    tmux("send-keys", "-t", name, "q")
    deadline = time.monotonic() + 60
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.read_text().strip() == "0", screen(name)


def test_runbook_started_from_the_run_dialog_completes_in_tmux(session: tuple[str, Path]) -> None:
    """r, pick greet, Enter; the target is the runbook's own ("web"), replaced by db01;
    Tab to the parameters (defaults shown as the CLI takes them), ctrl+s; the job
    screen shows it complete with the output of what was typed."""
    name, status = session
    wait_for(name, "3 of 3 hosts")
    keys(name, "r")
    shown = wait_for(name, "Run a runbook")
    typed(name, "gre")
    wait_for(name, "2 hosts match: web01, web02")  # greet's declared target
    shown = wait_for(name, "loud")  # its parameters are drawn a frame after the target
    assert "> Runbook" in shown and "greet  [shell] Say hello" in shown
    assert "false" in shown and "False" not in shown
    keys(name, "Enter")
    wait_for(name, "> Target")
    typed(name, "db01")
    wait_for(name, "1 host matches: db01")
    keys(name, "Tab")
    wait_for(name, "> name")
    typed(name, "tmux")
    keys(name, "Tab")
    wait_for(name, "> loud")
    typed(name, "yes")
    keys(name, "C-s")
    wait_for(name, "HELLO tmux")
    # The output, the job's final state and the footer that follows that state can
    # reach the screen in different frames.
    wait_for(name, "greet on db01   Completed")
    shown = wait_for(name, "a Rerun")
    assert "HELLO tmux" in shown and "greet on db01   Completed" in shown
    assert "q Quit" in shown and "s Stop" not in shown
    assert all(len(line) <= 80 for line in shown.splitlines())
    keys(name, "Escape")
    wait_for(name, "3 of 3 hosts")
    keys(name, "4")
    wait_for(name, "Completed greet")
    keys(name, "q")
    deadline = time.monotonic() + 60
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.read_text().strip() == "0", screen(name)
