"""asyncssh is imported without starting a process (its liboqs search runs ldconfig,
gcc and ld), and the library lookup that replaces it finds what ctypes finds."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

from console.ssh_library import find_library

COUNT_PROCESSES = """
import subprocess, sys
started = []
original = subprocess.Popen.__init__
def counting(self, args, *rest, **kwargs):
    started.append(args)
    original(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = counting
{imports}
print(len(started))
"""


def processes_started_by(imports: str) -> int:
    code = COUNT_PROCESSES.format(imports=imports)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def test_importing_asyncssh_from_here_starts_no_process() -> None:
    assert processes_started_by("import asyncssh") > 0  # what it costs otherwise
    assert processes_started_by("from console.ssh_library import asyncssh") == 0


def test_the_lookup_finds_what_ctypes_finds() -> None:
    assert find_library("c") == ctypes.util.find_library("c")
    assert find_library("no-such-library-anywhere") is None
    assert ctypes.util.find_library is not find_library  # put back after the import
