"""`opsconsole serve`: run the engine headless (scheduler, webhooks, jobs, control API)."""

from __future__ import annotations

import argparse
import asyncio

from console.cli.nats_args import add_engine_nats_options, nats_settings, worker_wait
from console.settings import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("serve", help="run the engine headless (for systemd)", parents=[common])
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="webhook listener address (env OPSCONSOLE_LISTEN; default 127.0.0.1:8080)",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve webhooks over HTTPS")
    parser.add_argument("--tls-key", metavar="FILE")
    parser.add_argument(
        "--public-url", metavar="URL", help="the URL base shown in webhook URLs (behind a proxy)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running jobs may finish (default 30)",
    )
    parser.add_argument("--max-jobs", type=int, metavar="N", help="jobs running at once")
    parser.add_argument("--max-runs-per-host", type=int, metavar="N")
    parser.add_argument("--forks", type=int, metavar="N", help="commands running at once")
    parser.add_argument(
        "--no-collection",
        action="store_true",
        help="do not collect inventory data (`tracking interval`) nor assess updates "
        "(every 6 h) periodically",
    )
    add_engine_nats_options(parser)
    parser.add_argument(
        "--until-idle", action="store_true", help="exit once no job has run for a few seconds"
    )
    parser.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from console import logs
    from console.engine.connect import options_from_env
    from console.engine.serve import serve

    logs.configure()
    options = options_from_env(
        triggers=not args.until_idle,
        collection=not (args.until_idle or args.no_collection),
        assessment=not (args.until_idle or args.no_collection),
        desired_state=not args.until_idle,
        listen=args.listen,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        public_url=args.public_url,
        max_jobs=args.max_jobs,
        max_runs_per_host=args.max_runs_per_host,
        forks=args.forks,
        nats=nats_settings(args, required=False),
        worker_wait=worker_wait(args),
    )
    return asyncio.run(serve(settings, options, args.grace, until_idle=args.until_idle))
