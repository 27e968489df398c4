"""Values too big for the environment reach a runbook as files in its workdir.

Every language hands values to scripts in environment variables (`OPS_PARAM_*`,
`OPS_WEBHOOK_DATA`). Linux refuses to start a program whose one environment string is
over 128 KiB (MAX_ARG_STRLEN) or whose arguments and environment together pass ARG_MAX
(a quarter of the stack limit, often 2 MiB; far less on some Unix systems): the run
fails with "Argument list too long" before the runbook starts. A webhook body may be
512 KiB and its WebhookData holds it twice, so values must not depend on that limit.

What CI and container systems do (GitHub Actions' `GITHUB_EVENT_PATH`, the `_FILE`
convention of Docker secrets) is followed here:

* WebhookData is always written to `opsconsole_webhook_data.json` in the workdir, its
  path in `OPS_WEBHOOK_DATA_FILE`; `OPS_WEBHOOK_DATA` holds it too while it is at most
  `ENV_VALUE_LIMIT` bytes.
* Any other variable over `ENV_VALUE_LIMIT` bytes is not set; its exact value is in a
  file whose path is in `<NAME>_FILE` (`OPS_PARAM_BIG` → `OPS_PARAM_BIG_FILE`).
* If the variables that stay still pass `ENV_TOTAL_LIMIT` together, the largest move to
  files the same way until the rest fits.

Files are uploaded with mode 0600 into the private (0700) workdir and go with it. The
runner applies this to every language's invocation, third-party ones included.
"""

from __future__ import annotations

from collections.abc import Mapping

from console.errors import UsageError
from console.runbooks.plugin_api import Invocation, TargetInfo

ENV_VALUE_LIMIT = 32 * 1024  # bytes (UTF-8) of one value kept in the environment
ENV_TOTAL_LIMIT = 128 * 1024  # bytes of all of a run's own variables together
WEBHOOK_VARIABLE = "OPS_WEBHOOK_DATA"
WEBHOOK_FILE = "opsconsole_webhook_data.json"
FILE_SUFFIX = "_FILE"


def fit_environment(invocation: Invocation, target: TargetInfo, workdir: str) -> Invocation:
    """`invocation` with every value too big for the environment moved into a file."""
    env = dict(invocation.env)
    files = dict(invocation.data_files)
    if WEBHOOK_VARIABLE in env:
        _to_file(env, files, WEBHOOK_VARIABLE, WEBHOOK_FILE, target, workdir)
    for name in _too_big(env):
        if name != WEBHOOK_VARIABLE:  # its file is written already
            _to_file(env, files, name, f"opsconsole_value_{name}", target, workdir)
        del env[name]
    clash = set(files) & set(invocation.files)
    if clash:
        raise UsageError(f"the runbook's files clash with opsconsole's value files: {clash}")
    return Invocation(
        command=invocation.command,
        files=invocation.files,
        env=env,
        stdin=invocation.stdin,
        data_files=files,
    )


def _too_big(env: Mapping[str, str]) -> list[str]:
    """The variables to move: each one over the value limit, then the largest of the
    rest until what stays fits the total limit."""
    by_size = sorted(env, key=lambda name: _size(name, env[name]), reverse=True)
    moving = [name for name in by_size if _size(name, env[name]) > ENV_VALUE_LIMIT]
    total = sum(_size(name, env[name]) for name in by_size if name not in moving)
    for name in by_size:
        if total <= ENV_TOTAL_LIMIT:
            break
        if name not in moving:
            moving.append(name)
            total -= _size(name, env[name])
    return moving


def _to_file(
    env: dict[str, str],
    files: dict[str, bytes],
    name: str,
    file_name: str,
    target: TargetInfo,
    workdir: str,
) -> None:
    pointer = name + FILE_SUFFIX
    if pointer in env:
        raise UsageError(
            f"{name} is too big for the environment and goes to a file named by "
            f"{pointer}, but a parameter already uses {pointer}; rename that parameter"
        )
    files[file_name] = env[name].encode()
    separator = "\\" if target.windows else "/"
    env[pointer] = workdir.rstrip("\\/") + separator + file_name


def _size(name: str, value: str) -> int:
    """What the variable costs in the environment block: `NAME=VALUE\\0`."""
    return len(name) + len(value.encode()) + 2
