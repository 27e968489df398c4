"""Shell runbooks (`.sh`): POSIX `sh`, or `bash` when the shebang names bash.

The script is uploaded into the workdir and run from there; parameters arrive only as
`OPS_PARAM_<NAME>` environment variables, which is the natural form for a shell, and a
value too big for the environment as a file named by `OPS_PARAM_<NAME>_FILE` (see
`console.runbooks.env_files`; WebhookData is always in `OPS_WEBHOOK_DATA_FILE`).
Options on the shebang line (`#!/bin/sh -eu`) are kept, because running `sh file`
would otherwise silently drop them.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from console.runbooks.plugin_api import (
    Invocation,
    Runbook,
    RunbookLanguage,
    TargetInfo,
    UsageError,
    posix_path,
    runbook_env,
)

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
        command = (
            f"cd {shlex.quote(workdir)} && exec {interpreter} "
            f"{posix_path(workdir, runbook.upload_name)}"
        )
        return Invocation(
            command=command,
            files={runbook.upload_name: runbook.content},
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
