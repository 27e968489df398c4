"""Shell runbooks (`.sh`): POSIX `sh`, or `bash` when the shebang names bash.

The script is uploaded into the workdir and run from there; parameters arrive only as
`OPS_PARAM_<NAME>` environment variables, which is the natural form for a shell, and a
value too big for the environment as a file named by `OPS_PARAM_<NAME>_FILE` (see
`console.runbooks.env_files`; WebhookData is always in `OPS_WEBHOOK_DATA_FILE`).
Options on the shebang line (`#!/bin/sh -eu`) are kept, because running `sh file`
would otherwise silently drop them.

A runbook that declares assets (`assets = ["db"]` in its metadata) reads them with
`ops_asset NAME FIELD` (`ops_asset db password`; a variable's value is
`ops_asset NAME`), like Azure's `Get-AutomationVariable`. `ops_asset` is a small
program uploaded into the workdir, which is appended to PATH, so it works in
subshells and pipelines too; it reads the asset's variables (see
`console.runbooks.asset_env`) and refuses an asset the runbook did not declare.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from console.runbooks.plugin_api import (
    ASSET_PREFIX,
    DECLARED_VARIABLE,
    Invocation,
    Runbook,
    RunbookLanguage,
    TargetInfo,
    UsageError,
    posix_path,
    runbook_env,
)

ASSET_HELPER = "ops_asset"
_KEY_SED = "tr 'a-z' 'A-Z' | tr -c 'A-Z0-9' '_'"  # what env_key does to a name
# POSIX sh, run on the host. A value too big for the environment is in a file named by
# the variable + _FILE (console.runbooks.env_files).
ASSET_HELPER_SOURCE = f"""#!/bin/sh
# ops_asset NAME [FIELD]: print a field of an asset this runbook declares (opsconsole).
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: ops_asset NAME [FIELD]" >&2; exit 2
fi
key=$(printf '%s' "$1" | {_KEY_SED})
found=
for declared in ${DECLARED_VARIABLE}; do
    if [ "$(printf '%s' "$declared" | {_KEY_SED})" = "$key" ]; then found=1; fi
done
if [ -z "$found" ]; then
    echo "ops_asset: the runbook does not declare the asset '$1'" \\
        "(it declares: ${DECLARED_VARIABLE}); add it to assets = [...] in its metadata" >&2
    exit 2
fi
prefix="{ASSET_PREFIX}$key"
eval "kind=\\${{${{prefix}}_KIND-}}; fields=\\${{${{prefix}}_FIELDS-}}"
field=$(printf '%s' "${{2:-value}}" | {_KEY_SED})
if [ $# -lt 2 ] && [ "$kind" != variable ]; then
    echo "ops_asset: '$1' is a $kind: name a field ($fields)" >&2; exit 2
fi
name="${{prefix}}_$field"
eval "set=\\${{$name+x}}; value=\\${{$name-}}; file=\\${{${{name}}_FILE-}}"
if [ -n "$set" ]; then
    printf '%s\\n' "$value"
elif [ -n "$file" ]; then
    cat "$file"; echo
else
    echo "ops_asset: the $kind '$1' has no field '${{2:-value}}' (it has: $fields)" >&2
    exit 2
fi
"""
_SHEBANG = re.compile(r"^#!\s*(\S+)(.*)$")
_FLAGS = re.compile(r"^-[A-Za-z]+$")
_OPTION_NAME = re.compile(r"^[a-z]+$")


class ShellLanguage(RunbookLanguage):
    suffixes = (".sh",)

    def build_invocation(
        self,
        runbook: Runbook,
        params: dict[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None,
    ) -> Invocation:
        if target.windows:
            raise UsageError(
                f"{runbook.name} is a shell runbook; it runs on Linux and Unix "
                "hosts, not on Windows"
            )
        interpreter = " ".join(interpreter_for(runbook.text))
        files = {runbook.upload_name: runbook.content}
        path = ""
        if runbook.metadata.assets:
            files[ASSET_HELPER] = ASSET_HELPER_SOURCE.encode()
            path = f'PATH="$PATH":{shlex.quote(workdir)} '
        command = (
            f"cd {shlex.quote(workdir)} && {path}exec {interpreter} "
            f"{posix_path(workdir, runbook.upload_name)}"
        )
        return Invocation(
            command=command,
            files=files,
            env=runbook_env(runbook, params, workdir, webhook_data),
        )


def interpreter_for(text: str) -> list[str]:
    """`["bash"]` or `["sh"]` plus the shebang's options (`-eu`, `-o pipefail`).

    Options are copied only while they look like options; anything else ends the copy,
    so the file name can never be taken as an option's argument.
    """
    first = text.split("\n", 1)[0]
    match = _SHEBANG.match(first)
    if match is None:
        return ["sh"]
    program, rest = match.group(1), match.group(2).split()
    if program.endswith("/env") and rest:
        program, rest = rest[0], rest[1:]
    words = ["bash" if program.rsplit("/", 1)[-1] == "bash" else "sh"]
    for token in rest:
        wants_name = words[-1].startswith("-") and words[-1].endswith("o")
        if not (_FLAGS.match(token) or (wants_name and _OPTION_NAME.match(token))):
            break
        words.append(token)
    if words[-1].startswith("-") and words[-1].endswith("o"):
        words.pop()  # "-o" without its option name
    return words
