"""The command line of a Python helper the engine starts: always the installed code.

`python -m console.webhooks.intake.worker` puts the working directory first on `sys.path`, so a
`console/` package in the directory serve was started from would run instead of the
installed one (with the engine's secrets and listening socket). Helpers therefore run
under `-I` (isolated: no cwd, no PYTHONPATH, no user site-packages), as pip does for its
build subprocesses. `-I` also ignores PYTHONPATH, which some setups need to find the
code at all, so the command puts the directory this very process imported `console`
from on the helper's path when `-I` alone would not have it: the helper runs exactly
the code the engine runs, installed normally, editable, or from a source tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import console

# Run `module` as `python -m` would, with the code root added when it is missing.
_BOOTSTRAP = (
    "import runpy, sys\n"
    "root, module = sys.argv[1:3]\n"
    "if root not in sys.path: sys.path.insert(0, root)\n"
    "sys.argv = [module, *sys.argv[3:]]\n"
    "runpy.run_module(module, run_name='__main__', alter_sys=True)\n"
)


def code_root() -> str:
    """The directory holding the `console` package this process runs."""
    return str(Path(console.__file__).resolve().parent.parent)


def python_module_command(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module args...` isolated from the working directory
    and the environment's Python settings, on the code this process runs."""
    return [sys.executable, "-I", "-c", _BOOTSTRAP, code_root(), module, *args]
