"""`opsconsole assets ...`: credentials, variables, connections and certificates.

Secret values never come from the command line (argv is visible to every user in the
process list): a password or passphrase is read from stdin or prompted without echo, a
key or certificate from a file, an encrypted variable's value from stdin with `-`.
Nothing printed here holds a secret: the engine answers with AssetViews only.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.assets.model import variable_value
from console.cli.admin import Handler, admin_handler
from console.cli.assignments import parse_assignments
from console.cli.output import local_time, print_json
from console.errors import UsageError
from console.settings import Settings

if TYPE_CHECKING:
    from console.assets.model import AssetView
    from console.engine.client import AssetAdmin, EngineClient

Operation = Callable[["AssetAdmin", argparse.Namespace], Awaitable[int]]


def _assets(client: EngineClient) -> AssetAdmin:
    return client.assets


def _handler(
    operation: Operation, prepare: Callable[[argparse.Namespace], None] | None = None
) -> Handler:
    """Read what the command needs from files, stdin or a prompt first (so a bad file
    fails before the engine is reached), then run `operation` on the engine's assets."""
    inner = admin_handler(_assets, operation)

    def handle(args: argparse.Namespace, settings: Settings) -> int:
        if prepare is not None:
            prepare(args)
        return inner(args, settings)

    return handle


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "assets", help="credentials, variables, connections, certificates", parents=[common]
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _register_setters(actions, common)

    listing = actions.add_parser("list", help="list assets (never a secret)", parents=[common])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_handler(_list))

    show = actions.add_parser("show", help="show one asset (never a secret)", parents=[common])
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_handler(_show))

    delete = actions.add_parser("delete", help="delete an asset", parents=[common])
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="even while something uses it")
    delete.set_defaults(handler=_handler(_delete))

    rotate = actions.add_parser(
        "rotate-key", help="re-encrypt every stored secret under a new key", parents=[common]
    )
    rotate.set_defaults(handler=_handler(_rotate_key))


def _register_setters(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    described = argparse.ArgumentParser(add_help=False, parents=[common])
    described.add_argument("name")
    described.add_argument("--description", default="")

    cred = actions.add_parser(
        "set-credential", help="create or replace a credential", parents=[described]
    )
    cred.add_argument("--username", required=True)
    source = cred.add_mutually_exclusive_group()
    source.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    source.add_argument("--key-file", type=Path, metavar="PATH", help="an SSH private key file")
    cred.add_argument(
        "--passphrase-stdin", action="store_true", help="read the key's passphrase from stdin"
    )
    cred.set_defaults(handler=_handler(_set_credential, _read_credential))

    var = actions.add_parser(
        "set-variable", help="create or replace a variable", parents=[described]
    )
    var.add_argument("value", help="JSON when it parses as JSON, else a string; `-`: stdin")
    var.add_argument("--encrypted", action="store_true", help="store it encrypted (for ever)")
    var.set_defaults(handler=_handler(_set_variable, _read_variable))

    conn = actions.add_parser(
        "set-connection", help="create or replace a connection", parents=[described]
    )
    conn.add_argument("fields", nargs="*", metavar="FIELD=VALUE")
    conn.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="FIELD",
        help="a secret field (repeatable); without FIELD=VALUE its value is read from stdin "
        "(one line each) or prompted without echo",
    )
    conn.set_defaults(handler=_handler(_set_connection, _read_connection))

    cert = actions.add_parser(
        "set-certificate", help="create or replace a certificate", parents=[described]
    )
    cert.add_argument("--pem", type=Path, required=True, metavar="FILE", help="certificate + key")
    cert.set_defaults(handler=_handler(_set_certificate, _read_certificate))


# ---------------------------------------------------------------------- reading secrets
def _stdin_line(what: str) -> str:
    """One line of stdin without its line ending (a password piped with echo)."""
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise UsageError(f"no {what} on stdin")
    return text


def _read_file(option: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file") from None
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"{option} {path}: cannot be read ({type(exc).__name__})") from None


def _read_credential(args: argparse.Namespace) -> None:
    args.password = args.private_key = args.passphrase = None
    if args.passphrase_stdin and args.key_file is None:
        raise UsageError("--passphrase-stdin goes with --key-file")
    if args.key_file is not None:
        args.private_key = _read_file("--key-file", args.key_file)
        if args.passphrase_stdin:
            args.passphrase = _stdin_line("passphrase")
    elif args.password_stdin:
        args.password = _stdin_line("password")
    else:
        args.password = getpass.getpass(f"password for {args.username}: ")


def _read_variable(args: argparse.Namespace) -> None:
    if args.value == "-":
        if not args.encrypted:
            raise UsageError("VALUE `-` (read stdin) is for --encrypted variables")
        args.value = sys.stdin.read().rstrip("\r\n")
    args.value = variable_value(args.value)


def _read_connection(args: argparse.Namespace) -> None:
    """FIELD=VALUE pairs, and each secret field not among them from stdin or a prompt:
    a secret given as FIELD=VALUE would be in the process list while the command runs."""
    args.field_values = parse_assignments(args.fields, "FIELD=VALUE")
    for field in args.secret:
        if field not in args.field_values:
            args.field_values[field] = (
                getpass.getpass(f"{field}: ") if sys.stdin.isatty() else _stdin_line(field)
            )


def _read_certificate(args: argparse.Namespace) -> None:
    args.pem_text = _read_file("--pem", args.pem)


# ---------------------------------------------------------------------- operations
async def _set_credential(assets: AssetAdmin, args: argparse.Namespace) -> int:
    view = await assets.set_credential(
        args.name,
        args.username,
        password=args.password,
        private_key=args.private_key,
        passphrase=args.passphrase,
        description=args.description,
    )
    return _saved(view)


async def _set_variable(assets: AssetAdmin, args: argparse.Namespace) -> int:
    view = await assets.set_variable(
        args.name, args.value, encrypted=args.encrypted, description=args.description
    )
    return _saved(view)


async def _set_connection(assets: AssetAdmin, args: argparse.Namespace) -> int:
    view = await assets.set_connection(
        args.name, args.field_values, secret=args.secret, description=args.description
    )
    return _saved(view)


async def _set_certificate(assets: AssetAdmin, args: argparse.Namespace) -> int:
    view = await assets.set_certificate(args.name, args.pem_text, description=args.description)
    return _saved(view)


def _saved(view: AssetView) -> int:
    secret = f" (secret: {', '.join(view.secret_fields)})" if view.secret_fields else ""
    print(f"{view.kind} {view.name} saved{secret}")
    return 0


async def _list(assets: AssetAdmin, args: argparse.Namespace) -> int:
    from console.engine.wire import asset_to_dict

    views = await assets.entries()
    if args.json:
        print_json([_listed(asset_to_dict(v)) for v in views])
        return 0
    if not views:
        print("no assets", file=sys.stderr)
        return 0
    print(f"{'NAME':24} {'KIND':11} {'ENCRYPTED':9} {'UPDATED':19} USED BY")
    for v in views:
        used = ", ".join(v.used_by) or "-"
        print(
            f"{v.name:24} {v.kind.value:11} {'yes' if v.encrypted else 'no':9} "
            f"{local_time(v.updated):19} {used}"
        )
    return 0


def _listed(data: dict[str, Any]) -> dict[str, Any]:
    """What `list --json` shows of an asset (the issue's columns, plus the description)."""
    keys = ("name", "kind", "encrypted", "created", "updated", "used_by", "description")
    return {k: data[k] for k in keys}


async def _show(assets: AssetAdmin, args: argparse.Namespace) -> int:
    from console.engine.wire import asset_to_dict

    view = await assets.show(args.name)
    if args.json:
        print_json(asset_to_dict(view))
        return 0
    print(f"name:        {view.name}")
    print(f"kind:        {view.kind.value}")
    print(f"encrypted:   {'yes' if view.encrypted else 'no'}")
    if view.description:
        print(f"description: {view.description}")
    print(f"created:     {local_time(view.created)}")
    print(f"updated:     {local_time(view.updated)}")
    for field, value in view.fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        print(f"{field + ':':12} {text.rstrip()}")
    for field in view.secret_fields:
        print(f"{field + ':':12} (secret)")
    print(f"used by:     {', '.join(view.used_by) or '-'}")
    return 0


async def _delete(assets: AssetAdmin, args: argparse.Namespace) -> int:
    view = await assets.delete(args.name, force=args.force)
    print(f"{view.kind.value} {view.name} deleted")
    return 0


async def _rotate_key(assets: AssetAdmin, args: argparse.Namespace) -> int:
    count = await assets.rotate_key()
    print(f"{count} stored secret(s) re-encrypted under the new key")
    return 0
