"""The connection to NATS shared by the engine, the workers and `workers list`.

Why one module: every side must accept the same settings (URL with optional
user:password, a NATS `.creds` file, an nkey seed file, TLS with a private CA and a
client certificate), read them from the same options and environment variables, and
fail the same way. The first connection fails fast with a typed error naming what to
fix; once connected, the client reconnects forever, so a worker or an engine outlives a
NATS restart. A password given in the URL is never shown: messages use `shown_url`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from console.errors import (
    ConfigError,
    NatsAuthFailed,
    NatsError,
    NatsNotConfigured,
    NatsTlsFailed,
    NatsUnavailable,
)

if TYPE_CHECKING:  # nats-py is imported on connect: settings alone cost nothing
    from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5  # one attempt's TCP + TLS + CONNECT handshake
RECONNECT_WAIT_S = 1  # between reconnect attempts after a connection was lost
ABANDON_CLOSE_S = 2.0  # closing a client whose first connection failed
MAX_PENDING_BYTES = 64 * 1024 * 1024  # published while reconnecting, flushed on reconnect

# The settings, each with its environment variable (the option is `--nats-<name>`,
# and `--nats` for the URL).
ENV_URL = "OPSCONSOLE_NATS"
ENV_FILES = {
    "creds": "OPSCONSOLE_NATS_CREDS",
    "nkey_seed": "OPSCONSOLE_NATS_NKEY",
    "ca": "OPSCONSOLE_NATS_CA",
    "cert": "OPSCONSOLE_NATS_CERT",
    "key": "OPSCONSOLE_NATS_KEY",
}
_OPTION_NAMES = {
    "creds": "--nats-creds",
    "nkey_seed": "--nats-nkey",
    "ca": "--nats-ca",
    "cert": "--nats-cert",
    "key": "--nats-key",
}
_SCHEMES = ("nats", "tls")
# How a server that wants a client certificate ends a handshake without one.
_HANGUPS = (BrokenPipeError, ConnectionResetError)


def masked_url(url: str) -> str:
    """`url` with the password of each server replaced by `***` (for messages, logs)."""
    return ",".join(_mask_one(part.strip()) for part in url.split(","))


def _mask_one(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@dataclass(frozen=True)
class NatsSettings:
    """Where NATS is and how to authenticate to it. Files are paths, read on connect."""

    url: str
    creds: Path | None = None
    nkey_seed: Path | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_options(
        cls,
        url: str | None = None,
        *,
        creds: str | None = None,
        nkey_seed: str | None = None,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> NatsSettings | None:
        """Each option, else its environment variable; None when no URL is set anywhere
        (NATS not configured: everything runs in the engine)."""
        env = os.environ if environ is None else environ
        given = {"creds": creds, "nkey_seed": nkey_seed, "ca": ca, "cert": cert, "key": key}
        url = url or env.get(ENV_URL) or None
        files = {
            name: Path(value) if (value := given[name] or env.get(variable)) else None
            for name, variable in ENV_FILES.items()
        }
        if url is None:
            return None
        settings = cls(url=url, **files)
        settings.check()
        return settings

    @classmethod
    def required(cls, url: str | None = None, **options: Any) -> NatsSettings:
        """`from_options`, where a missing URL is an error naming the setting."""
        settings = cls.from_options(url, **options)
        if settings is None:
            raise NatsNotConfigured(
                f"NATS is not configured: give --nats URL or set {ENV_URL} "
                "(e.g. nats://user:password@nats.example.net:4222)"
            )
        return settings

    @property
    def servers(self) -> list[str]:
        """The server URLs (`url` may list several, comma-separated, for a cluster)."""
        return [part.strip() for part in self.url.split(",") if part.strip()]

    @property
    def shown_url(self) -> str:
        return masked_url(self.url)

    @property
    def wants_tls(self) -> bool:
        return bool(self.ca or self.cert) or any(s.startswith("tls://") for s in self.servers)

    def check(self) -> None:
        """Reject settings that cannot work, naming the option and its variable."""
        for server in self.servers:
            if urlsplit(server).scheme not in _SCHEMES:
                raise ConfigError(
                    f"--nats / {ENV_URL}: {masked_url(server)} is not a NATS URL "
                    "(nats://HOST:PORT or tls://HOST:PORT)"
                )
        for name in ENV_FILES:
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"{_setting(name)}: no such file {path}")
        if (self.cert is None) != (self.key is None):
            raise ConfigError(
                f"a TLS client certificate needs both {_setting('cert')} and {_setting('key')}"
            )
        if self.creds and self.nkey_seed:
            raise ConfigError(f"give one of {_setting('creds')} and {_setting('nkey_seed')}")

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context (the CA to trust, the client certificate), or None for
        plain connections (nats-py still upgrades if the server requires TLS)."""
        if not self.wants_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            if self.cert and self.key:
                context.load_cert_chain(str(self.cert), str(self.key))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{self._tls_files()}: cannot be used for TLS: {exc}") from exc
        return context

    def _tls_files(self) -> str:
        named = [f"{_setting(n)}={getattr(self, n)}" for n in ("ca", "cert", "key")]
        return ", ".join(n for n in named if not n.endswith("=None"))

    def connect_options(self) -> dict[str, Any]:
        """The authentication and TLS keywords of `nats.connect`."""
        options: dict[str, Any] = {}
        if self.creds:
            options["user_credentials"] = str(self.creds)
        if self.nkey_seed:
            options["nkeys_seed"] = str(self.nkey_seed)
        context = self.tls_context()
        if context is not None:
            options["tls"] = context
        return options


def _setting(name: str) -> str:
    return f"{_OPTION_NAMES[name]} / {ENV_FILES[name]}"


class _FirstConnectFailed(Exception):
    """Raised from the error callback to end the first connection's retry loop (a
    plain Exception, so nats-py's loop does not catch it)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Callbacks:
    """nats-py's callbacks: fail the first connection at its first error, then only
    log (with the masked URL) while the client reconnects on its own."""

    def __init__(self, settings: NatsSettings, name: str, client: NATS) -> None:
        self.settings = settings
        self.name = name
        self.client = client
        self.connected = False

    async def error(self, exc: Exception) -> None:
        if not self.connected:
            raise _FirstConnectFailed(exc)
        said = str(exc) or type(exc).__name__  # some nats-py errors have no message
        log.warning("%s: NATS %s: %s", self.name, self.settings.shown_url, said)

    async def disconnected(self) -> None:
        if self.connected and not self.client.is_closed:  # not our own close()
            log.warning("%s: lost NATS %s; reconnecting", self.name, self.settings.shown_url)

    async def reconnected(self) -> None:
        log.warning("%s: reconnected to NATS %s", self.name, self.settings.shown_url)


def _drop_nats_tls_eof_warning(record: logging.LogRecord) -> bool:
    """nats-py's protocol returns True from `eof_received`, which asyncio's TLS layer
    reports as a warning every time a TLS connection closes: noise on an operator's
    terminal (`workers list`) and in the engine's log, with nothing to act on."""
    return not record.getMessage().startswith("returning true from eof_received()")


async def connect_nats(settings: NatsSettings, name: str) -> NATS:
    """A connected client named `name` (shown in NATS monitoring), reconnecting forever
    once connected. The first connection is tried once per server and raises
    NatsUnavailable, NatsAuthFailed or NatsTlsFailed naming the URL and setting."""
    import nats
    from nats.aio.client import Client

    if settings.wants_tls:
        logging.getLogger("asyncio").addFilter(_drop_nats_tls_eof_warning)  # once: a set
    client = Client()
    callbacks = _Callbacks(settings, name, client)
    try:
        await client.connect(
            servers=settings.servers,
            name=name,
            error_cb=callbacks.error,
            disconnected_cb=callbacks.disconnected,
            reconnected_cb=callbacks.reconnected,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            connect_timeout=CONNECT_TIMEOUT_S,
            pending_size=MAX_PENDING_BYTES,
            **settings.connect_options(),
        )
    except _FirstConnectFailed as failed:
        await _abandon(client)
        raise _typed_error(settings, failed.cause) from failed.cause
    except (OSError, nats.errors.Error) as exc:
        await _abandon(client)
        raise _typed_error(settings, exc) from exc
    callbacks.connected = True
    return client


async def _abandon(client: NATS) -> None:
    """Close a client whose first connection failed; closing it cannot fail the caller
    nor hang it (nats-py waits forever to close a transport whose TLS handshake failed)."""
    try:
        await asyncio.wait_for(client.close(), ABANDON_CLOSE_S)
    except Exception:  # the connection error is what the user needs
        log.debug("closing a failed NATS client", exc_info=True)


def _is_hangup(exc: BaseException) -> bool:
    from nats.errors import UnexpectedEOF

    return isinstance(exc, (*_HANGUPS, UnexpectedEOF))


def _typed_error(settings: NatsSettings, exc: BaseException) -> NatsError:
    """The connection failure as the error a user can act on."""
    url = settings.shown_url
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLError) or "tls" in text.lower():
        return NatsTlsFailed(
            f"NATS {url}: TLS failed ({text}); check {_setting('ca')} (the CA that signed "
            f"the server's certificate) and {_setting('cert')}, {_setting('key')}"
        )
    if settings.wants_tls and _is_hangup(exc):
        return NatsTlsFailed(
            f"NATS {url} closed the connection during TLS ({text}); if it requires a "
            f"client certificate, give {_setting('cert')} and {_setting('key')} signed by "
            "a CA it trusts"
        )
    if _is_auth_refusal(text):
        return NatsAuthFailed(
            f"NATS {url} refused the credentials ({text.removeprefix('nats: ')}); check "
            f"the user:password in --nats / {ENV_URL}, or {_setting('creds')} "
            f"or {_setting('nkey_seed')}"
        )
    return NatsUnavailable(
        f"NATS {url} did not answer ({text}); is nats-server running there and is the "
        f"URL in --nats / {ENV_URL} right?"
    )


def _is_auth_refusal(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("authorization", "authentication", "credentials"))
