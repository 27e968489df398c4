"""What an asset is, what of it may be shown, and what a runbook or host receives.

Four kinds, as in Azure Automation:

* `credential`: `username` (shown) and a secret `password`, or a secret `private_key`
  (PEM/OpenSSH text) with an optional secret `passphrase`.
* `variable`: one JSON value in `value`; secret when created `encrypted` (and then for
  ever: encryption cannot be turned off, as in Azure).
* `connection`: named fields (e.g. `endpoint`, `token`); those listed as secret are.
* `certificate`: the PEM certificate chain in `certificate` (shown, with its subject,
  expiry and thumbprint) and the secret PEM `private_key`.

A stored asset keeps its secret fields only as ciphertexts (`console.secrets`); a
`ResolvedAsset` holds them decrypted and exists only inside the engine while a job or
a connection needs it. `AssetView` is what every list, show, event and screen gets:
never a secret value, only the names of the secret fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from console.errors import UsageError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# A secret shorter than this would be masked at every occurrence of its letters.
MIN_SECRET_LENGTH = 4


class AssetKind(StrEnum):
    CREDENTIAL = "credential"
    VARIABLE = "variable"
    CONNECTION = "connection"
    CERTIFICATE = "certificate"


# Parameter types that take an asset name (console.runbooks.parameters.TYPES has them).
ASSET_PARAMETER_TYPES = tuple(kind.value for kind in AssetKind)


class AssetNotFound(UsageError):
    """No asset of that name (exit 2)."""


class WrongAssetKind(UsageError):
    """The asset exists but is of another kind than the parameter or host needs."""


def check_name(name: str) -> str:
    """The name as given, or UsageError saying what a name may be."""
    if not NAME_RE.match(name):
        raise UsageError(
            f"invalid asset name {name!r}: start with a letter, then letters, digits, "
            "`_`, `.` or `-`, at most 64 characters"
        )
    return name


def variable_value(text: str) -> Any:
    """What a variable typed as text holds: the JSON value when the text is JSON
    (`42`, `true`, `[1,2]`, `"quoted"`), else the text itself. The CLI and the
    console read variables this one way."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def name_key(name: str) -> str:
    """Names are unique case-insensitively: `DbAdmin` and `dbadmin` are one asset."""
    return name.casefold()


@dataclass(frozen=True)
class AssetView:
    """An asset as it may be shown anywhere: no secret value, ever."""

    name: str
    kind: AssetKind
    encrypted: bool  # has secret fields (always for credential and certificate)
    created: float
    updated: float
    fields: Mapping[str, Any] = field(default_factory=dict)  # the non-secret fields
    secret_fields: tuple[str, ...] = ()  # names only
    used_by: tuple[str, ...] = ()  # "schedule:NAME", "webhook:NAME", "host:NAME", ...
    description: str = ""


@dataclass(frozen=True)
class ResolvedAsset:
    """An asset with its secrets decrypted, for the one job or connection using it.
    Its repr never shows a value."""

    name: str
    kind: AssetKind
    values: Mapping[str, Any] = field(repr=False)
    secret_fields: frozenset[str] = frozenset()


class AssetResolver(Protocol):
    """How jobs and transports get an asset's values (console.assets.vault.AssetVault)."""

    def resolve(self, name: str, kind: AssetKind | None = None) -> ResolvedAsset:
        """The asset decrypted; AssetNotFound, or WrongAssetKind when `kind` differs."""

    def secret_values(self) -> list[str]:
        """Every secret value of every asset, for the masker."""
