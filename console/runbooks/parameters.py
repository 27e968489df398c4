"""Typed runbook parameters: declaring them, parsing user input, handing them to scripts.

A runbook declares its parameters in its metadata block (see `console.runbooks.metadata`). Users
type values as text (`-p NAME=VALUE` on the command line, a field in the console);
schedules and webhooks store values that may already be typed (JSON). `parse_values`
turns either into checked, typed values with the declared defaults applied, and
raises `UsageError` naming the parameter and the reason.

Scripts receive values only through the environment and uploaded files, never on a
command line: `env_for` builds the `OPS_PARAM_<NAME>` variables every language gets.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import UsageError

# The asset types take an asset's name: the job keeps the name, the runbook gets the
# asset's values (console.runbooks.asset_env). They are the asset kinds of
# console.assets.model.ASSET_PARAMETER_TYPES, spelled out because console.assets sits
# above the store, which sits above runbooks (a test keeps the two equal).
ASSET_TYPES = ("credential", "variable", "connection", "certificate")
TYPES = ("string", "int", "float", "bool", "choice", "list", "json", *ASSET_TYPES)
# What an asset name may be (console.assets.model.NAME_RE; the vault checks it exists).
ASSET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
ENV_PREFIX = "OPS_PARAM_"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

# The fields a credential or certificate may hand a runbook (see asset_env).
ASSET_FIELDS = {
    "credential": ("username", "password", "private_key", "passphrase"),
    "certificate": ("certificate", "private_key", "thumbprint", "subject", "issuer", "not_after"),
}

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class Parameter:
    """One declared parameter. `default` is already of the declared type (or None)."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    description: str = ""

    @property
    def env_name(self) -> str:
        return env_name(self.name)


def env_name(name: str) -> str:
    """`OPS_PARAM_` + the name in upper case with every non-alphanumeric turned into `_`."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def env_names(param: Parameter) -> tuple[str, ...]:
    """Every variable a runbook may get for `param`: lists also get `..._LINES`, asset
    types a variable per field and `..._FIELDS` (a connection's fields are its own,
    not known here: `console.engine.job_building` checks them when a job is made)."""
    base = param.env_name
    if param.type == "list":
        return (base, base + "_LINES")
    fields = ASSET_FIELDS.get(param.type, ())
    if param.type in ASSET_TYPES and param.type != "variable":
        fields += ("fields",)  # the names of the fields, for the language helpers
    return (base, *(f"{base}_{field.upper()}" for field in fields))


def convert(param: Parameter, value: Any) -> Any:
    """`value` (text from a user, or an already typed JSON value) as `param`'s type.

    Raises `UsageError` naming the parameter and why the value does not fit.
    """
    try:
        typed = _CONVERTERS[param.type](value)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"parameter {param.name!r} ({param.type}): {exc}") from None
    if param.type == "choice" and typed not in param.choices:
        allowed = ", ".join(param.choices)
        raise UsageError(
            f"parameter {param.name!r}: {typed!r} is not allowed; choose one of {allowed}"
        )
    if isinstance(typed, str) and "\0" in typed:
        raise UsageError(f"parameter {param.name!r}: a NUL character cannot be passed to a script")
    return typed


def parse_values(
    specs: Mapping[str, Parameter], raw: Mapping[str, Any], runbook: str = "runbook"
) -> dict[str, Any]:
    """Check and type `raw` against `specs`; apply defaults; report unknown and missing.

    The result holds every declared parameter that has a value (given or default), in
    declaration order. Parameters with neither stay absent, so scripts can tell.
    """
    for name in raw:
        if name not in specs:
            raise UsageError(f"{runbook} has no parameter {name!r}{_did_you_mean(name, specs)}")
    values: dict[str, Any] = {}
    for name, param in specs.items():
        if name in raw:
            values[name] = convert(param, raw[name])
        elif param.default is not None:
            values[name] = param.default
        elif param.required:
            raise UsageError(
                f"{runbook}: parameter {name!r} is required ({param.type}"
                f"{': ' + param.description if param.description else ''})"
            )
    return values


def env_for(specs: Mapping[str, Parameter], values: Mapping[str, Any]) -> dict[str, str]:
    """The `OPS_PARAM_<NAME>` environment variables for typed `values`.

    Strings, numbers and credential names as text, bools as `true`/`false`, lists and
    json as JSON text; a list also as `OPS_PARAM_<NAME>_LINES`, one item per line, which
    a POSIX shell can read with `while IFS= read -r item` and no JSON parser.
    """
    env: dict[str, str] = {}
    for name, value in values.items():
        param = specs[name]
        env[param.env_name] = to_text(param, value)
        if param.type == "list":
            items = (v if isinstance(v, str) else json.dumps(v) for v in value)
            env[param.env_name + "_LINES"] = "\n".join(items)
    return env


def to_text(param: Parameter, value: Any) -> str:
    """How a typed value is written into an environment variable."""
    return value_text(param.type, value)


def value_text(type_name: str, value: Any) -> str:
    """A typed value as text that `-p NAME=VALUE` reads back as the same value: JSON
    for lists and json, `true`/`false` for bools, plain text otherwise. Runbooks get
    it in their environment; the console's run form shows defaults this way."""
    if type_name in ("list", "json"):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _did_you_mean(name: str, specs: Mapping[str, Parameter]) -> str:
    close = difflib.get_close_matches(name, list(specs), n=3)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    if specs:
        return "; it takes " + ", ".join(specs)
    return "; it takes no parameters"


def _to_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ValueError(f"expected a whole number, got {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            if number == number and number not in (float("inf"), float("-inf")):
                return number
    raise ValueError(f"expected a number, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"expected true/false, yes/no or 1/0, got {value!r}")


def _to_choice(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected one of the choices as text, got {value!r}")
    return value


def _to_list(value: Any) -> list[Any]:
    """A JSON array, or comma-separated text (items stripped, empty items dropped)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a list, got {value!r}")
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON array: {exc.msg} at column {exc.colno}") from None
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON array")
        return parsed
    return [item.strip() for item in text.split(",") if item.strip()]


def _to_json(value: Any) -> Any:
    if not isinstance(value, str):
        json.dumps(value)  # raises TypeError for values JSON cannot carry
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None


def _to_asset_name(kind: str) -> Any:
    """The converter of an asset type: the name of an asset (which one is of that kind
    is checked against the vault when a job is created)."""

    def convert(value: Any) -> str:
        name = value.strip() if isinstance(value, str) else value
        if not isinstance(name, str) or not ASSET_NAME_RE.match(name):
            raise ValueError(f"expected the name of a {kind} asset, got {value!r}")
        return name

    return convert


_CONVERTERS = {
    "string": _to_string,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "choice": _to_choice,
    "list": _to_list,
    "json": _to_json,
    **{kind: _to_asset_name(kind) for kind in ASSET_TYPES},
}
