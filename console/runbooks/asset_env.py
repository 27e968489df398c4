"""How a runbook receives assets: environment variables, like its parameters.

Secret values travel the way parameters do: in the environment block the transport
sends on stdin (never argv), or, when too big for the environment, in a 0600 file of
the private workdir that goes with it (`console.runbooks.env_files`). The job record
keeps asset names only; values are resolved for each host run.

* A parameter of an asset type (`ASSET_PARAMETER_TYPES`) named `db`: `OPS_PARAM_DB` is
  the asset's name, except for a variable, where it is the variable's value as text;
  each field of the asset is `OPS_PARAM_DB_<FIELD>` (a credential's `_USERNAME` and
  `_PASSWORD`, or `_PRIVATE_KEY` and `_PASSPHRASE`; a connection's fields; a
  certificate's `_CERTIFICATE`, `_PRIVATE_KEY`, `_THUMBPRINT`), and the names of
  those fields in `OPS_PARAM_DB_FIELDS` (for language helpers).
* An asset the metadata declares (`assets = ["db"]`), read at run time through the
  language's helper (`ops_asset db password`, `get_asset("db")`): its fields in
  `OPS_ASSET_<NAME>_<FIELD>` (a variable's value in `_VALUE`), its kind in
  `OPS_ASSET_<NAME>_KIND`, the names of its fields in `OPS_ASSET_<NAME>_FIELDS`, and
  the declared names in `OPS_ASSETS` (space-separated), so a helper can tell an
  undeclared asset from a missing field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from console.runbooks.parameters import ASSET_TYPES, Parameter, value_text

ASSET_PREFIX = "OPS_ASSET_"
DECLARED_VARIABLE = "OPS_ASSETS"
# What the language helpers read beside an asset's fields (`<PREFIX>_FIELDS`,
# `<PREFIX>_KIND`): a field whose variable had one of these names would overwrite it.
HELPER_SUFFIXES = frozenset({"FIELDS", "KIND"})


class AssetValues(Protocol):
    """An asset with its values (console.assets.model.ResolvedAsset), as read here:
    runbooks cannot import console.assets, which sits above the store."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def values(self) -> Mapping[str, Any]: ...


def env_key(text: str) -> str:
    """A name or field as a variable name part: upper case, every non-alphanumeric `_`."""
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def field_texts(asset: AssetValues) -> dict[str, str]:
    """Each field of the asset that has a value, as text (JSON for lists and objects)."""
    return {
        field: value_text("json" if isinstance(value, list | dict) else "string", value)
        for field, value in asset.values.items()
        if value is not None and value != ""
    }


def parameter_env(param: Parameter, asset: AssetValues) -> dict[str, str]:
    """The variables of one asset-typed parameter (its `OPS_PARAM_<NAME>` included)."""
    fields = field_texts(asset)
    if asset.kind == "variable":
        return {param.env_name: fields.get("value", "")}
    env = {param.env_name: asset.name, f"{param.env_name}_FIELDS": " ".join(fields)}
    env.update({f"{param.env_name}_{env_key(field)}": text for field, text in fields.items()})
    return env


def declared_env(assets: Iterable[AssetValues]) -> dict[str, str]:
    """The variables of the assets a runbook declares, for its language's helper."""
    env: dict[str, str] = {}
    names: list[str] = []
    for asset in assets:
        names.append(asset.name)
        prefix = ASSET_PREFIX + env_key(asset.name)
        fields = field_texts(asset)
        env[f"{prefix}_KIND"] = str(asset.kind)
        env[f"{prefix}_FIELDS"] = " ".join(fields)
        env.update({f"{prefix}_{env_key(field)}": text for field, text in fields.items()})
    env[DECLARED_VARIABLE] = " ".join(names)
    return env


def asset_parameter_kinds(parameters: Mapping[str, Parameter]) -> dict[str, str]:
    """name -> asset kind of the parameters that take an asset (for language helpers)."""
    return {name: p.type for name, p in parameters.items() if p.type in ASSET_TYPES}
