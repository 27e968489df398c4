"""The NATS options every command of worker groups takes (`serve`, the console,
`worker`, `workers list`): `--nats URL` and its credential and TLS files, each
defaulting to its environment variable (console.workers.connection)."""

from __future__ import annotations

import argparse

from console.schedules.building import parse_duration
from console.workers.connection import ENV_FILES, ENV_URL, NatsSettings


def add_nats_options(parser: argparse.ArgumentParser) -> None:
    """`--nats URL` and its credential and TLS files, each defaulting to its variable."""
    group = parser.add_argument_group("NATS (worker groups)")
    group.add_argument(
        "--nats",
        metavar="URL",
        help=f"NATS server, nats://[user:password@]host:4222 or tls://... (env {ENV_URL})",
    )
    files = {
        "creds": ("--nats-creds", "NATS credentials file (.creds: JWT and nkey seed)"),
        "nkey_seed": ("--nats-nkey", "NATS nkey seed file"),
        "ca": ("--nats-ca", "CA certificate that signed the NATS server's certificate"),
        "cert": ("--nats-cert", "TLS client certificate for NATS"),
        "key": ("--nats-key", "private key of --nats-cert"),
    }
    for name, (option, text) in files.items():
        group.add_argument(
            option, dest=f"nats_{name}", metavar="FILE", help=f"{text} (env {ENV_FILES[name]})"
        )


def nats_settings(args: argparse.Namespace, *, required: bool) -> NatsSettings | None:
    """The settings `add_nats_options` parsed (environment variables fill the gaps);
    with `required`, a missing URL is an error naming `--nats` / `OPSCONSOLE_NATS`."""
    options = {name: getattr(args, f"nats_{name}", None) for name in ENV_FILES}
    if required:
        return NatsSettings.required(getattr(args, "nats", None), **options)
    return NatsSettings.from_options(getattr(args, "nats", None), **options)


def worker_wait(args: argparse.Namespace) -> float | None:
    """`--worker-wait` in seconds (None: the engine's default)."""
    text = getattr(args, "worker_wait", None)
    return None if text is None else parse_duration(text, "--worker-wait")


def add_engine_nats_options(parser: argparse.ArgumentParser) -> None:
    """What an engine (`serve`, the console) takes: the NATS options and how long a
    run routed to a group with no online worker waits (`worker_wait`)."""
    add_nats_options(parser)
    parser.add_argument(
        "--worker-wait",
        metavar="DURATION",
        help="how long a host run routed to a worker group with no online worker waits "
        "before it fails (default 10m)",
    )
