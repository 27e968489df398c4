"""Python runbooks (`.py`), run by `python3` on the host (`python` on Windows).

Three files go to the workdir: the runbook, `opsconsole_params.json` (the typed
parameters and the webhook data) and the helper module `opsconsole_runbook.py`, which
is the program actually started. It loads the JSON and runs the runbook with `runpy`
as `__main__`, with these globals already set:

    params        dict of typed parameter values (`params["threshold"] + 1` works)
    webhook_data  the webhook request as a dict, or None
    output, error, warning, verbose, progress, debug   one-line stream helpers
    get_asset     get_asset("db") reads an asset the runbook declares (`assets = [...]`)

A parameter of an asset type is, in `params`, the asset: a credential or certificate
as an object (`params["login"].username`, `.password`, or `.private_key` and
`.passphrase`; `.certificate`, `.private_key`, `.thumbprint`), a connection as a dict
of its fields, a variable as its value's text. `get_asset` returns the same forms.
Their values come from the environment (`console.runbooks.asset_env`), never from the
JSON file, which holds asset names only.

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
    asset_parameter_kinds,
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
import re
import runpy
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "opsconsole_params.json"), encoding="utf-8") as _file:
    _DATA = json.load(_file)

webhook_data = _DATA["webhook_data"]


class AssetNotDeclared(LookupError):
    """get_asset() of an asset the runbook's metadata does not list in assets = [...]."""


class Asset(object):
    """A credential or certificate: its fields as attributes. Its repr shows no value."""

    def __init__(self, name, kind, fields):
        self.name = name
        self.kind = kind
        for field in _FIELDS_OF.get(kind, ()):
            setattr(self, field, None)
        for field, value in fields.items():
            setattr(self, field, value)

    def __repr__(self):
        return "<%s %r>" % (self.kind, self.name)


_FIELDS_OF = {
    "credential": ("username", "password", "private_key", "passphrase"),
    "certificate": ("certificate", "private_key", "thumbprint"),
}


def _key(text):
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def _variable(name):
    """A variable's value, or the content of the file too big a value went to."""
    if name in os.environ:
        return os.environ[name]
    if name + "_FILE" in os.environ:
        with open(os.environ[name + "_FILE"], encoding="utf-8") as handle:
            return handle.read()
    return None


def _asset(name, kind, prefix):
    if kind == "variable":
        return _variable(prefix if prefix.startswith("OPS_PARAM_") else prefix + "_VALUE")
    names = (_variable(prefix + "_FIELDS") or "").split()
    fields = dict((field, _variable(prefix + "_" + _key(field))) for field in names)
    return fields if kind == "connection" else Asset(name, kind, fields)


def get_asset(name):
    """An asset the runbook declares: a credential or certificate object, a connection's
    dict, a variable's text (like Azure's get_automation_variable)."""
    declared = (os.environ.get("OPS_ASSETS") or "").split()
    if _key(name) not in [_key(d) for d in declared]:
        raise AssetNotDeclared(
            "the runbook does not declare the asset %r (it declares: %s); add it to "
            "assets = [...] in its metadata" % (name, ", ".join(declared) or "none")
        )
    prefix = "OPS_ASSET_" + _key(name)
    return _asset(name, os.environ.get(prefix + "_KIND"), prefix)


params = _DATA["params"]
for _name, _kind in _DATA.get("asset_params", {}).items():
    if _name in params:
        params[_name] = _asset(params[_name], _kind, "OPS_PARAM_" + _key(_name))


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
               for name in ("output", "error", "warning", "verbose", "progress", "debug",
                            "get_asset")}
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
        payload = json.dumps(
            {
                "params": params,
                "webhook_data": webhook_data,
                "asset_params": asset_parameter_kinds(runbook.metadata.parameters),
            }
        )
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
