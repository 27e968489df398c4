"""The webhook listener: the aiohttp server that serves the webhook handler
(`console.webhooks.http`) on one address, and its socket, TLS and URL helpers."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from aiohttp import web

from console.errors import ConfigError
from console.webhooks.http import Handler
from console.webhooks.http_logs import RedactedAccessLogger, access_log, log, server_log

HEADER_TIMEOUT = 15.0  # seconds a connection may sit without a complete request


class WebhookListener:
    """Serves a webhook application on one address, loopback by default.

    `port=0` picks a free port (see `.port` after `start()`); `sock` serves a socket
    that is already listening instead (the intake worker's, bound by the engine). With
    `ssl_cert` and `ssl_key` it serves HTTPS, TLS 1.2 or later. `public_url` overrides
    `url_base` for URLs shown to users when the listener sits behind a proxy or binds a
    wildcard.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 8080,
        ssl_cert: str | Path | None = None,
        ssl_key: str | Path | None = None,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        shutdown_timeout: float = 5.0,
        public_url: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        if (ssl_cert is None) != (ssl_key is None):
            raise ConfigError("TLS needs both a certificate and a key file")
        self._handler = handler
        self._host = host
        self._port = port
        self._ssl_cert = ssl_cert
        self._ssl_key = ssl_key
        self._header_timeout = header_timeout
        self._shutdown_timeout = shutdown_timeout
        self._public_url = public_url
        self._sock = sock
        if sock is not None:
            self._host, self._port = sock.getsockname()[:2]
        self._runner: web.ServerRunner | None = None

    @property
    def tls(self) -> bool:
        return self._ssl_cert is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url_base(self) -> str:
        """`scheme://host:port`, the prefix of every webhook URL this listener serves."""
        return listener_url(self._host, self._port, self.tls, self._public_url)

    async def start(self) -> None:
        context = self._ssl_context()
        server = web.Server(
            self._handler,
            access_log_class=RedactedAccessLogger,
            access_log=access_log,
            logger=server_log,
            # aiohttp applies this to a connection from its first byte until a complete
            # request has arrived, so it also ends clients that dribble their headers.
            keepalive_timeout=self._header_timeout,
            # The body is passed on as sent: no decompression bomb, and the HMAC is
            # computed over the bytes the sender signed.
            auto_decompress=False,
            # After an early answer (413, 401...) unread body bytes are drained this long
            # so the client can read the answer, then the connection is closed.
            lingering_time=2.0,
        )
        runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site: web.BaseSite = (
            web.TCPSite(runner, self._host, self._port, ssl_context=context)
            if self._sock is None
            else web.SockSite(runner, self._sock, ssl_context=context)
        )
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"the webhook listener cannot listen on {self._host}:{self._port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self._port = runner.addresses[0][1]
        if context is None and not _is_loopback(self._host):
            log.warning(
                "webhook listener on %s without TLS: tokens cross the network in clear text",
                self._host,
            )
        log.info("webhook listener on %s", self.url_base)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None if self._ssl_cert is None else tls_context(self._ssl_cert, self._ssl_key)


def tls_context(cert: str | Path | None, key: str | Path | None) -> ssl.SSLContext:
    """The listener's TLS settings (TLS 1.2 or later); ConfigError if the files are
    missing or do not load."""
    if cert is None or key is None:
        raise ConfigError("TLS needs both a certificate and a key file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from exc
    return context


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port), as aiohttp would bind it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(
            f"the webhook listener cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"the webhook listener cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return sock


def listener_url(host: str, port: int, tls: bool, public_url: str | None = None) -> str:
    """`scheme://host:port` of a listener, or the public URL it is reached by."""
    if public_url:
        return public_url.rstrip("/")
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}"


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
