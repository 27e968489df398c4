"""Windows paths a user may track: files (`C:\\...`) and registry keys (`HKLM:\\...`,
`HKCU:\\...`, PowerShell's drive names). Told apart from POSIX paths by their start,
so one tracking configuration serves Linux and Windows hosts alike: each host collects
the paths of its kind and reports the others as matching nothing there."""

from __future__ import annotations

import re

from console.errors import UsageError

_FILE = re.compile(r"[A-Za-z]:\\")
_REGISTRY = re.compile(r"(HKLM|HKCU):\\", re.IGNORECASE)


def is_windows_path(path: str) -> bool:
    """A drive path (`C:\\Windows\\win.ini`) or a registry key (`HKLM:\\SOFTWARE\\X`)."""
    return bool(_FILE.match(path) or _REGISTRY.match(path))


def is_registry_path(path: str) -> bool:
    return bool(_REGISTRY.match(path))


def check_windows_path(path: str) -> None:
    """One line, no `..` (two spellings of one file, or a glob climbing out)."""
    if any(ch in path for ch in "\n\r\0"):
        raise UsageError(f"{path!r} holds a newline or NUL byte")
    if ".." in re.split(r"[\\/]", path):
        raise UsageError(f"{path!r} holds '..': give the path without it")
