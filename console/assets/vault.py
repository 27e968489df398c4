"""The asset vault: assets stored in the `assets` table with their secret fields
encrypted, handed out decrypted only to the engine (`AssetResolver`) and shown only as
`AssetView`s (`AssetAdmin`).

A row is `{name, kind, created, updated, description, fields, secrets, encrypted}`:
`fields` the non-secret values, `secrets` {field: ciphertext}. An encrypted variable
keeps its JSON value as JSON text, encrypted. Every check runs before the row is
written, and a row is written in one atomic store write, so a refused or interrupted
`set` leaves the previous asset (or none) as it was.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from console.assets.checks import (
    check_fields,
    check_private_key,
    check_secret,
    split_certificate,
)
from console.assets.model import (
    AssetKind,
    AssetNotFound,
    AssetView,
    ResolvedAsset,
    WrongAssetKind,
    check_name,
    name_key,
)
from console.assets.rotation import rotate_key, rotation_pending, verify_key
from console.errors import UsageError
from console.secrets import SecretBox
from console.store import Store
from console.store.tables import Table

TABLE = "assets"
# name_key(asset) -> who uses it ("schedule:NAME", ...); see console.assets.usage.
Users = Callable[[], Mapping[str, list[str]]]


def _no_users() -> Mapping[str, list[str]]:
    return {}


class AssetVault:
    """Implements `AssetResolver` (sync, for jobs and transports) and `AssetAdmin`."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        users: Users = _no_users,
        environ: Mapping[str, str] | None = None,
        on_rotated: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`users` says who uses which asset; `on_rotated` lets other holders of
        ciphertexts (the webhook service) re-read them after a key rotation."""
        self._store = store
        self._data_dir = Path(data_dir)
        self._environ = os.environ if environ is None else environ
        self._users = users
        self._on_rotated = on_rotated
        self._opened_box: SecretBox | None = None  # opened on first use: no key file before
        self._key_verified = False
        self._secret_cache: list[str] | None = None
        self._changes = 0  # counts the changes of secret values (see secrets_version)

    def __repr__(self) -> str:
        return f"AssetVault({self._data_dir})"

    @property
    def _table(self) -> Table:
        return self._store.table(TABLE)

    @property
    def _box(self) -> SecretBox:
        if self._opened_box is None:
            self._opened_box = SecretBox.for_data_dir(self._data_dir, self._environ)
        return self._opened_box

    def finish_interrupted_rotation(self) -> bool:
        """Roll an interrupted `rotate-key` forward (at engine start); True if one was."""
        if not rotation_pending(self._data_dir, self._environ):
            return False
        rotate_key(self._store, self._data_dir, self._environ)
        self._opened_box = None
        return True

    # ------------------------------------------------------------------ resolver
    def resolve(self, name: str, kind: AssetKind | None = None) -> ResolvedAsset:
        """The asset decrypted; AssetNotFound, or WrongAssetKind when `kind` differs."""
        doc = self._row(name)
        if kind is not None and doc["kind"] != kind:
            raise WrongAssetKind(f"asset {doc['name']!r} is a {doc['kind']}, not a {kind}")
        values = dict(doc["fields"])
        for field, ciphertext in doc["secrets"].items():
            values[field] = self._plain(doc, field, self._box.decrypt(ciphertext))
        return ResolvedAsset(doc["name"], AssetKind(doc["kind"]), values, frozenset(doc["secrets"]))

    def secret_values(self) -> list[str]:
        """Every secret value of every asset, for the masker (cached until a change): an
        encrypted string variable as the string a runbook prints, not its JSON text."""
        if self._secret_cache is None:
            values: list[str] = []
            for doc in self._table.all().values():
                for field, ciphertext in doc["secrets"].items():
                    plain = self._plain(doc, field, self._box.decrypt(ciphertext))
                    # what a runbook is given and may print (a variable's text, not JSON)
                    values.append(plain if isinstance(plain, str) else json.dumps(plain))
                    if not isinstance(plain, str):
                        values.append(json.dumps(plain, separators=(",", ":")))
            self._secret_cache = values
        return list(self._secret_cache)

    def secrets_version(self) -> int:
        """Changes when a secret value may have: the masker compares this per line,
        not the whole list of secrets."""
        return self._changes

    def _forget_secrets(self) -> None:
        self._secret_cache = None
        self._changes += 1

    @staticmethod
    def _plain(doc: Mapping[str, Any], field: str, text: str) -> Any:
        if doc["kind"] == AssetKind.VARIABLE:
            return json.loads(text)
        return text

    # ------------------------------------------------------------------ admin
    async def set_credential(
        self,
        name: str,
        username: str,
        *,
        password: str | None = None,
        private_key: str | None = None,
        passphrase: str | None = None,
        description: str = "",
    ) -> AssetView:
        """Create or replace; exactly one of `password` and `private_key`."""
        check_name(name)
        if (password is None) == (private_key is None):
            raise UsageError(f"{name}: give a credential either a password or a private key")
        if not username:
            raise UsageError(f"{name}: a credential needs a username")
        secrets: dict[str, str] = {}
        if password is not None:
            secrets["password"] = check_secret(name, "password", password)
        else:
            assert private_key is not None
            if passphrase is not None:
                secrets["passphrase"] = check_secret(name, "passphrase", passphrase)
            check_private_key(name, private_key, passphrase)
            secrets["private_key"] = private_key
        return self._save(name, AssetKind.CREDENTIAL, {"username": username}, secrets, description)

    async def set_variable(
        self, name: str, value: Any, *, encrypted: bool = False, description: str = ""
    ) -> AssetView:
        """Create or replace. An encrypted variable stays encrypted (as in Azure):
        replacing it with a plain one is refused."""
        check_name(name)
        old = self._table.get(name_key(name))
        if old and old["kind"] == AssetKind.VARIABLE and old["encrypted"] and not encrypted:
            raise UsageError(
                f"{name}: an encrypted variable cannot become a plain one (as in Azure "
                "Automation): add --encrypted, or delete it and create it again"
            )
        text = json.dumps(value)
        if not encrypted:
            return self._save(name, AssetKind.VARIABLE, {"value": value}, {}, description)
        check_secret(name, "value", value if isinstance(value, str) else text)
        return self._save(name, AssetKind.VARIABLE, {}, {"value": text}, description)

    async def set_connection(
        self,
        name: str,
        fields: Mapping[str, str],
        *,
        secret: Collection[str] = (),
        description: str = "",
    ) -> AssetView:
        check_name(name)
        if not fields:
            raise UsageError(f"{name}: a connection needs at least one FIELD=VALUE")
        check_fields(name, fields)
        unknown = sorted(set(secret) - set(fields))
        if unknown:
            raise UsageError(f"{name}: --secret names no field given: {', '.join(unknown)}")
        plain = {f: v for f, v in fields.items() if f not in secret}
        secrets = {f: check_secret(name, f, v) for f, v in fields.items() if f in secret}
        return self._save(name, AssetKind.CONNECTION, plain, secrets, description)

    async def set_certificate(self, name: str, pem: str, *, description: str = "") -> AssetView:
        """`pem`: the certificate chain and its private key, PEM."""
        check_name(name)
        chain, key, shown = split_certificate(name, pem)
        fields = {"certificate": chain, **shown}
        return self._save(name, AssetKind.CERTIFICATE, fields, {"private_key": key}, description)

    async def entries(self) -> list[AssetView]:
        self._verify_key()
        users = self._users()
        rows = sorted(self._table.all().values(), key=lambda d: name_key(d["name"]))
        return [self._view(doc, users) for doc in rows]

    async def show(self, name: str) -> AssetView:
        self._verify_key()
        return self._view(self._row(name), self._users())

    async def delete(self, name: str, *, force: bool = False) -> AssetView:
        """Refused (UsageError) while a schedule, webhook or host uses it, unless forced."""
        view = await self.show(name)
        if view.used_by and not force:
            raise UsageError(
                f"asset {view.name!r} is used by {', '.join(view.used_by)}: change those "
                "first, or delete it anyway with --force"
            )
        self._table.delete(name_key(name))
        self._forget_secrets()
        return view

    async def rotate_key(self) -> int:
        """Re-encrypt every stored secret (assets and webhook secrets) under a new key."""
        self._verify_key()
        count = rotate_key(self._store, self._data_dir, self._environ)
        self._opened_box = None
        if self._on_rotated is not None:
            await self._on_rotated()
        return count

    # ------------------------------------------------------------------ storage
    def _row(self, name: str) -> dict[str, Any]:
        doc = self._table.get(name_key(name))
        if doc is None:
            raise AssetNotFound(f"no asset named {name!r} (see `opsconsole assets list`)")
        return doc

    def _verify_key(self) -> None:
        if not self._key_verified:
            verify_key(self._store, self._box, self._environ)
            self._key_verified = True

    def _save(
        self,
        name: str,
        kind: AssetKind,
        fields: dict[str, Any],
        secrets: dict[str, str],
        description: str,
    ) -> AssetView:
        """Write the asset in one row, keeping `created` of the one it replaces."""
        self._verify_key()
        old = self._table.get(name_key(name))
        if old is not None and old["kind"] != kind:
            raise UsageError(
                f"asset {old['name']!r} is a {old['kind']}, not a {kind}: delete it first "
                f"to make a {kind} of that name"
            )
        now = time.time()
        doc = {
            "name": name,
            "kind": kind.value,
            "created": old["created"] if old else now,
            "updated": now,
            "description": description,
            "fields": fields,
            "secrets": {f: self._box.encrypt(v) for f, v in secrets.items()},
            "encrypted": bool(secrets),
        }
        self._table.upsert(name_key(name), doc)
        self._forget_secrets()
        return self._view(doc, self._users())

    @staticmethod
    def _view(doc: Mapping[str, Any], users: Mapping[str, list[str]]) -> AssetView:
        return AssetView(
            name=doc["name"],
            kind=AssetKind(doc["kind"]),
            encrypted=doc["encrypted"],
            created=doc["created"],
            updated=doc["updated"],
            fields=dict(doc["fields"]),
            secret_fields=tuple(doc["secrets"]),
            used_by=tuple(users.get(name_key(doc["name"]), ())),
            description=doc.get("description", ""),
        )
