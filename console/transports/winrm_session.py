"""A host's WinRM settings from the inventory, and the blocking pywinrm calls of one run.

Variables as Ansible names them: `ansible_host`, `ansible_port` (5986, or 5985 for
http), `ansible_winrm_scheme`, `ansible_winrm_path` (/wsman), `ansible_winrm_transport`
(ntlm by default; basic, kerberos, credssp and certificate are passed to pywinrm),
`ansible_user` and `ansible_password`, or `console_credential` (a credential asset,
resolved as for SSH by `console.transports.login`), `ansible_winrm_cert_pem` /
`ansible_winrm_cert_key_pem` (certificate authentication),
`ansible_winrm_server_cert_validation` (`validate` by default; `ignore` is an
explicit opt-out), `ansible_winrm_ca_trust_path` (a CA file for validation),
`ansible_winrm_read_timeout_sec` (30) and `ansible_winrm_operation_timeout_sec` (20).

`WinRMSession` is one pywinrm `Protocol`, so one HTTP connection and authentication,
used by one thread at a time; its calls block (the WinRM helper process,
`winrm_broker`, runs them in its threads) and raise the typed `HostError`s the SSH
transport raises.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from console.errors import (
    AuthenticationFailed,
    CertificateRejected,
    HostConfigError,
    HostError,
    Unreachable,
)

if TYPE_CHECKING:
    from winrm.protocol import Protocol

    from console.assets.model import AssetResolver
    from console.inventory.model import Host

AUTH_METHODS = ("ntlm", "basic", "kerberos", "credssp", "certificate")
VALIDATION = ("validate", "ignore")
T = TypeVar("T")


@dataclass(frozen=True)
class WinRMSettings:
    """Where and how to reach one Windows host."""

    endpoint: str
    auth: str
    username: str
    password: str = field(repr=False)
    cert_validation: str = "validate"
    ca_trust_path: str | None = None
    cert_pem: str | None = None
    cert_key_pem: str | None = None
    read_timeout: int = 30
    operation_timeout: int = 20

    @classmethod
    def from_host(cls, host: Host, assets: AssetResolver | None) -> WinRMSettings:
        v = host.vars
        scheme = host.winrm_scheme
        if scheme not in ("http", "https"):
            raise HostConfigError(
                host.name, f"ansible_winrm_scheme must be http or https, not {scheme!r}"
            )
        auth = str(v.get("ansible_winrm_transport") or "ntlm").lower()
        if auth not in AUTH_METHODS:
            raise HostConfigError(
                host.name,
                f"unknown ansible_winrm_transport {auth!r}; use {', '.join(AUTH_METHODS)}",
            )
        validation = str(v.get("ansible_winrm_server_cert_validation") or "validate").lower()
        if validation not in VALIDATION:
            raise HostConfigError(
                host.name,
                f"ansible_winrm_server_cert_validation must be validate or ignore, "
                f"not {validation!r}",
            )
        username, password = _login(host, assets, auth)
        read, operation = _timeouts(host)
        address = f"[{host.address}]" if ":" in host.address else host.address
        path = "/" + str(v.get("ansible_winrm_path") or "/wsman").lstrip("/")
        return cls(
            endpoint=f"{scheme}://{address}:{host.port}{path}",
            auth=auth,
            username=username,
            password=password,
            cert_validation=validation,
            ca_trust_path=_optional(v.get("ansible_winrm_ca_trust_path")),
            cert_pem=_optional(v.get("ansible_winrm_cert_pem")),
            cert_key_pem=_optional(v.get("ansible_winrm_cert_key_pem")),
            read_timeout=read,
            operation_timeout=operation,
        )


def _login(host: Host, assets: AssetResolver | None, auth: str) -> tuple[str, str]:
    """(user, password): the credential asset's when the host names one, else the
    inventory's `ansible_user` / `ansible_password`."""
    # Imported here: the WinRM helper process (`winrm_broker`) loads this module for
    # WinRMSession alone, and must start without the inventory and SSH code.
    from console.transports.login import login_for

    login = login_for(host, assets)
    if login is not None:
        if login.password is None:
            raise HostConfigError(
                host.name,
                f"credential {login.credential!r} holds a private key; WinRM needs a "
                "username and password credential",
            )
        return login.username, login.password
    password = host.vars.get("ansible_password", host.vars.get("ansible_winrm_password"))
    if auth != "certificate" and (not host.user or password is None):
        raise HostConfigError(
            host.name,
            "WinRM needs a login: set ansible_user and ansible_password, or name a "
            "credential asset with console_credential",
        )
    return host.user or "", str(password or "")


def _timeouts(host: Host) -> tuple[int, int]:
    v = host.vars
    try:
        read = int(v.get("ansible_winrm_read_timeout_sec", 30))
        operation = int(v.get("ansible_winrm_operation_timeout_sec", 20))
    except (TypeError, ValueError):
        raise HostConfigError(
            host.name,
            "ansible_winrm_read_timeout_sec and ansible_winrm_operation_timeout_sec "
            "must be whole numbers of seconds",
        ) from None
    if operation < 1 or read <= operation:
        raise HostConfigError(
            host.name,
            f"ansible_winrm_read_timeout_sec ({read}) must exceed "
            f"ansible_winrm_operation_timeout_sec ({operation}), which must be at least 1",
        )
    return read, operation


def _optional(value: Any) -> str | None:
    return str(value) if value else None


class WinRMSession:
    """One run's pywinrm conversation with a host. Every method blocks."""

    def __init__(self, host_name: str, settings: WinRMSettings) -> None:
        self.host_name = host_name
        self.settings = settings
        self._protocol: Protocol | None = None

    def open_shell(self, env: Mapping[str, str]) -> str:
        """A new shell whose environment holds `env` (sent in the Create request's
        body, never on a command line)."""
        return self._call(
            lambda p: p.open_shell(env_vars=dict(env) or None, codepage=65001), "connect"
        )

    def start(self, shell_id: str, command: str) -> str:
        return self._call(lambda p: p.run_command(shell_id, command), "run")

    def send(self, shell_id: str, command_id: str, data: bytes) -> None:
        self._call(lambda p: p.send_command_input(shell_id, command_id, data, end=True), "run")

    def receive(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int | None]:
        """The output since the last call, and the exit code once the command ended;
        empty output when the operation timeout passed with nothing new."""
        from winrm.exceptions import WinRMOperationTimeoutError

        def receive(p: Protocol) -> tuple[bytes, bytes, int | None]:
            try:
                out, err, code, done = p.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                return b"", b"", None
            return out, err, code if done else None

        return self._call(receive, "run")

    def signal_terminate(self, shell_id: str, command_id: str) -> None:
        """Ends the command (and releases it on the host)."""
        self._call(lambda p: p.cleanup_command(shell_id, command_id), "run")

    def close(self, shell_id: str | None) -> None:
        """Delete the shell (ending what still runs in it) and the connection; best effort."""
        protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        with contextlib.suppress(Exception):
            if shell_id is not None:
                protocol.close_shell(shell_id, close_session=False)
        with contextlib.suppress(Exception):
            protocol.transport.close_session()

    def _call(self, action: Callable[[Protocol], T], stage: str) -> T:
        try:
            return action(self._connect())
        except HostError:
            raise
        except Exception as exc:
            raise self._typed(exc, stage) from exc

    def _connect(self) -> Protocol:
        if self._protocol is None:
            from winrm.protocol import Protocol

            s = self.settings
            self._protocol = Protocol(
                s.endpoint,
                transport=s.auth,  # type: ignore[arg-type]
                username=s.username or None,
                password=s.password,
                server_cert_validation=s.cert_validation,  # type: ignore[arg-type]
                # None: the default CAs, never the REQUESTS_CA_BUNDLE of the environment
                ca_trust_path=s.ca_trust_path,  # type: ignore[arg-type]
                cert_pem=s.cert_pem,
                cert_key_pem=s.cert_key_pem,
                read_timeout_sec=s.read_timeout,
                operation_timeout_sec=s.operation_timeout,
                proxy=None,
            )
        return self._protocol

    def _typed(self, exc: Exception, stage: str) -> HostError:
        """The typed error for a failure of pywinrm (or requests under it)."""
        import requests
        from winrm.exceptions import InvalidCredentialsError, WinRMError, WSManFaultError

        s, name = self.settings, self.host_name
        if isinstance(exc, requests.exceptions.SSLError):
            return CertificateRejected(
                name,
                f"the TLS certificate of {s.endpoint} was not accepted ({_reason(exc)}); "
                "give its CA file with ansible_winrm_ca_trust_path, or set "
                "ansible_winrm_server_cert_validation: ignore to skip the check",
            )
        if isinstance(exc, InvalidCredentialsError) and "rejected" in str(exc):
            return AuthenticationFailed(
                name,
                f"{s.endpoint} refused the login of {s.username!r} ({s.auth} "
                "authentication): wrong user or password?",
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return Unreachable(
                name,
                f"no answer from {s.endpoint} within {s.read_timeout} s "
                "(ansible_winrm_read_timeout_sec)",
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            if stage == "connect":
                return Unreachable(name, f"cannot connect to {s.endpoint}: {_reason(exc)}")
            return Unreachable(name, "WinRM connection lost while the command ran")
        if isinstance(exc, WinRMError | ValueError) and not isinstance(exc, WSManFaultError):
            # pywinrm's refusals of its settings: a missing library, no cert file, ...
            return HostConfigError(name, f"WinRM to {s.endpoint}: {exc}")
        return HostError(name, f"WinRM error from {s.endpoint}: {exc}")


def _reason(exc: BaseException) -> str:
    """What happened, from the innermost cause a requests error wraps (urllib3 keeps it
    in `reason`, requests in `args[0]`): "Connection refused", "self-signed certificate"."""
    while True:
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException) and exc.args:
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
