"""asyncssh, imported without its slow search for the optional liboqs.

When it is imported, asyncssh looks for liboqs (post-quantum key exchange) with
`ctypes.util.find_library`, which on Linux runs `ldconfig -p` and, when the library is
absent, gcc and ld: 40 ms on a quiet machine and far more on a busy one, paid by every
command that reaches a host (bench/fanout). Here the lookup is done the way the dynamic
linker finds a library (its usual directories and LD_LIBRARY_PATH) without starting a
process, so asyncssh still finds liboqs when it is installed. Every module of
opsconsole takes asyncssh from here: `from console.ssh_library import asyncssh`.
"""

from __future__ import annotations

import ctypes.util
import glob
import os

LIBRARY_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")


def find_library(name: str) -> str | None:
    """`ctypes.util.find_library` for a shared library in the linker's usual places:
    its soname (`libssl.so.3`), as ldconfig would give, rather than the development
    link `libssl.so`, which may be a linker script that cannot be loaded."""
    for directory in _library_dirs():
        base = os.path.join(glob.escape(directory), f"lib{name}.so")
        versioned = [os.path.basename(p) for p in glob.glob(base + ".*")]
        if versioned:
            return min(versioned, key=lambda n: (n.count("."), n))
        if os.path.exists(base):
            return os.path.basename(base)
    return None


def _library_dirs() -> list[str]:
    extra = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    multiarch = sorted(glob.glob("/lib/*-linux-gnu") + glob.glob("/usr/lib/*-linux-gnu"))
    return [*extra, *multiarch, *LIBRARY_DIRS]


_original = ctypes.util.find_library
ctypes.util.find_library = find_library
try:
    import asyncssh as asyncssh
finally:
    ctypes.util.find_library = _original
