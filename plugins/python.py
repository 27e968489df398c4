"""Python runbooks (`.py`), run by `python3` on the host (`python` on Windows).

Three files go to the workdir: the runbook, `opsconsole_params.json` (the typed
parameters and the webhook data) and the helper module `opsconsole_runbook.py`, which
is the program actually started. It loads the JSON and runs the runbook with `runpy`
as `__main__`, with these globals already set:

    params        dict of typed parameter values (`params["threshold"] + 1` works)
    webhook_data  the webhook request as a dict, or None
    output, error, warning, verbose, progress, debug   one-line stream helpers

A runbook that prefers explicit imports (for linters) writes
`from opsconsole_runbook import params, warning`. `params` and `webhook_data` hold
values of any size (the JSON file has no limit). Parameters are also in the
environment as `OPS_PARAM_<NAME>` like in every language, or as a file named by
`OPS_PARAM_<NAME>_FILE` when too big for it (see `console.runbooks.env_files`).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from console.runbooks.plugin_api import (
    Invocation,
    Runbook,
    RunbookLanguage,
    TargetInfo,
    posix_path,
    runbook_env,
    windows_path,
)

HELPER = "opsconsole_runbook.py"
PARAMS_FILE = "opsconsole_params.json"

# Runs on the host with whatever Python 3 it has, so: no dependencies, 3.6 syntax.
HELPER_SOURCE = '''\
"""opsconsole's runbook helper: parameters, webhook data and stream helpers."""
import json
import os
import runpy
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "opsconsole_params.json"), encoding="utf-8") as _file:
    _DATA = json.load(_file)

params = _DATA["params"]
webhook_data = _DATA["webhook_data"]


def _emit(prefix, message):
    for line in str(message).splitlines() or [""]:
        sys.stdout.write(prefix + line + "\\n")
    sys.stdout.flush()


def output(message):
    _emit("::output::", message)


def error(message):
    _emit("::error::", message)


def warning(message):
    _emit("::warning::", message)


def verbose(message):
    _emit("::verbose::", message)


def debug(message):
    _emit("::debug::", message)


def progress(activity, percent=None):
    _emit("::progress::", activity if percent is None else "%s (%s%%)" % (activity, percent))


def run(path):
    """Run the runbook as __main__ with params, webhook_data and the helpers as globals."""
    sys.argv = [path]
    helpers = {name: globals()[name]
               for name in ("output", "error", "warning", "verbose", "progress", "debug")}
    helpers.update(params=params, webhook_data=webhook_data)
    runpy.run_path(path, init_globals=helpers, run_name="__main__")


if __name__ == "__main__":
    import opsconsole_runbook  # the importable copy, shared with the runbook's own import

    opsconsole_runbook.run(sys.argv[1])
'''


class PythonLanguage(RunbookLanguage):
    suffixes = (".py",)

    def build_invocation(
        self,
        runbook: Runbook,
        params: dict[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None,
    ) -> Invocation:
        payload = json.dumps({"params": params, "webhook_data": webhook_data})
        script = runbook.upload_name
        if script in (HELPER, PARAMS_FILE):
            script = "runbook-" + script
        files = {
            script: runbook.content,
            HELPER: HELPER_SOURCE.encode(),
            PARAMS_FILE: payload.encode(),
        }
        env = runbook_env(runbook, params, workdir, webhook_data)
        env["PYTHONUNBUFFERED"] = "1"  # lines reach the console as they are printed
        env["PYTHONIOENCODING"] = "utf-8"
        if target.windows:
            command = f"python {windows_path(workdir, HELPER)} {windows_path(workdir, script)}"
        else:
            command = (
                f"cd {shlex.quote(workdir)} && exec python3 {posix_path(workdir, HELPER)} "
                f"{posix_path(workdir, script)}"
            )
        return Invocation(command=command, files=files, env=env)
