"""Credential assets of routed hosts, sent to the worker that logs in to them.

A host that names a credential asset (`console_credential`, `console_become_credential`)
logs in with it wherever it runs, as Azure's hybrid workers use the account's
credential assets. The worker has no vault: the engine puts the credentials the host
names into its order, which is encrypted with the group key like the rest of the
order, and the worker keeps them in memory only (never written to disk or logged).
The newest order naming a credential gives its values, so a rotated password reaches
the workers with the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.assets.model import (
    AssetKind,
    AssetNotFound,
    AssetResolver,
    ResolvedAsset,
    WrongAssetKind,
)
from console.assets.usage import HOST_CREDENTIAL_VARS
from console.inventory.model import Host

# The field of a credential that is not secret; every other one is (console.assets.vault).
_PLAIN_FIELDS = frozenset({"username"})


def credentials_for(host: Host, assets: AssetResolver) -> dict[str, dict[str, Any]]:
    """name -> values of each credential asset the host's vars name. One that does not
    resolve is left out: the worker then fails the login naming the missing asset."""
    found: dict[str, dict[str, Any]] = {}
    for var in HOST_CREDENTIAL_VARS:
        name = host.vars.get(var)
        if not isinstance(name, str) or name in found:
            continue
        try:
            found[name] = dict(assets.resolve(name, AssetKind.CREDENTIAL).values)
        except (AssetNotFound, WrongAssetKind):
            continue
    return found


class ReceivedCredentials:
    """A worker's `AssetResolver`: the credentials its orders brought, by name."""

    def __init__(self) -> None:
        self._assets: dict[str, ResolvedAsset] = {}

    def update(self, credentials: Mapping[str, Mapping[str, Any]]) -> None:
        for name, values in credentials.items():
            self._assets[name] = ResolvedAsset(
                name,
                AssetKind.CREDENTIAL,
                dict(values),
                frozenset(field for field in values if field not in _PLAIN_FIELDS),
            )

    def resolve(self, name: str, kind: AssetKind | None = None) -> ResolvedAsset:
        asset = self._assets.get(name)
        if asset is None:
            raise AssetNotFound(
                f"no credential {name!r} came with the order: the engine has no such "
                "credential asset (see `opsconsole assets list` on the engine)"
            )
        if kind is not None and kind is not asset.kind:
            raise WrongAssetKind(f"{name!r} is not a {kind.value} asset")
        return asset

    def secret_values(self) -> list[str]:
        return [
            str(asset.values[field])
            for asset in self._assets.values()
            for field in asset.secret_fields
            if asset.values.get(field)
        ]
