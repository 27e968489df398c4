"""strict-sh: runbooks ending in `.strict.sh` run with `sh -eu` (stop at the first error
or unset variable). `.strict.sh` is longer than the shell plugin's `.sh`, so it wins."""

from __future__ import annotations

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


class StrictShellLanguage(RunbookLanguage):
    suffixes = (".strict.sh",)

    def build_invocation(
        self,
        runbook: Runbook,
        params: dict[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None,
    ) -> Invocation:
        if target.windows:
            raise UsageError(f"{runbook.name}: strict-sh runbooks need a POSIX host")
        script = posix_path(workdir, runbook.upload_name)
        return Invocation(
            command=f"cd {shlex.quote(workdir)} && exec sh -eu {script}",
            files={runbook.upload_name: runbook.content},
            env=runbook_env(runbook, params, workdir, webhook_data),
        )
