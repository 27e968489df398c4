"""Typed errors shared by every part of the engine.

Each error carries a message a user can act on and the process exit code the CLI
uses for it: 2 for usage, configuration or input errors, 1 for a host or job that
failed. Per-host errors subclass `HostError` so that one host's failure is recorded
against that host and never stops the others.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class OpsError(Exception):
    """Base of every error opsconsole reports to a user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(OpsError):
    """A bad command line, option, parameter or other input (exit 2)."""


class ConfigError(OpsError):
    """A configuration file or setting that cannot be used (exit 2)."""


class InventoryError(ConfigError):
    """A malformed inventory; names the file, the line and what is wrong."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class NatsError(ConfigError):
    """NATS (the worker groups' messaging server) cannot be used as configured (exit 2).
    Messages show the URL with its password masked."""


class NatsNotConfigured(NatsError):
    """Something needs NATS and no URL was given (`--nats` / `OPSCONSOLE_NATS`)."""


class NatsUnavailable(NatsError):
    """No NATS server answered at the configured URL."""


class NatsAuthFailed(NatsError):
    """The NATS server refused the credentials (user/password, .creds or nkey)."""


class NatsTlsFailed(NatsError):
    """The TLS handshake with NATS failed (an unknown CA, a wrong name, a client
    certificate the server refused, or TLS on one side only)."""


class HostError(OpsError):
    """A failure confined to one host. `kind` is a stable machine-readable name."""

    exit_code = EXIT_FAILED
    kind = "error"

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.detail = message


class HostConfigError(HostError, ConfigError):
    """A host's settings cannot be used (its credential asset is missing or not a
    credential, its `ansible_user` contradicts it, a become setting is wrong, ...): that
    host's run fails with kind `config_error` and the others go on. It is a ConfigError
    too, so where it reaches the command line directly it exits 2 as before."""

    kind = "config_error"
    exit_code = EXIT_USAGE


class Unreachable(HostError):
    kind = "unreachable"


class AuthenticationFailed(HostError):
    kind = "authentication_failed"


class HostKeyUnknown(HostError):
    kind = "host_key_unknown"


class HostKeyChanged(HostError):
    kind = "host_key_changed"


class CertificateRejected(HostError):
    """The host's TLS certificate failed validation (WinRM over HTTPS): the message
    says how to give its CA or, explicitly, skip the check."""

    kind = "certificate_rejected"


class NoOnlineWorker(HostError):
    """A host run routed to a worker group waited the engine's `--worker-wait` while no
    worker of that group was online (start one, or check its NATS settings)."""

    kind = "no_online_worker"


class WinRMHelperLost(HostError):
    """The process that runs the WinRM calls (`console.transports.winrm_broker`) ended
    while a run waited for it: that run fails, the next one starts a new helper."""

    kind = "winrm_helper_lost"


class TimedOut(HostError):
    kind = "timed_out"


class Cancelled(HostError):
    kind = "cancelled"


class ExitedNonZero(HostError):
    kind = "exited_non_zero"

    def __init__(self, host: str, exit_code: int) -> None:
        super().__init__(host, f"command exited with status {exit_code}")
        self.exit_status = exit_code


def error_to_dict(exc: OpsError) -> dict[str, Any]:
    """An error as the control API (and a worker's child relay) sends it."""
    return {"type": type(exc).__name__, "message": exc.message, "exit_code": exc.exit_code}


def error_from_dict(data: dict[str, Any]) -> OpsError:
    """Rebuild an engine-side error on the client, keeping its message and exit code."""
    cls = {"UsageError": UsageError, "ConfigError": ConfigError}.get(data.get("type", ""), OpsError)
    exc = cls(str(data.get("message", "the engine reported an error")))
    exc.exit_code = int(data.get("exit_code", EXIT_FAILED))
    return exc


def error_status(exc: OpsError) -> int:
    """The HTTP status of an error answered over the control API: 400 for bad input,
    404 for a job that does not exist, 409 for everything the engine refused."""
    if isinstance(exc, UsageError):
        return 400
    return 404 if type(exc).__name__ == "JobNotFound" else 409
