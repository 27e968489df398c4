"""The asset vault in-process: what the engine resolves, what the masker gets, what is
stored (never a secret in clear text) and what is refused before anything is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

from console.assets.masking import MASK, SecretMasker
from console.assets.model import AssetKind, AssetNotFound, WrongAssetKind
from console.assets.vault import AssetVault
from console.errors import UsageError
from console.store import Store
from tests.certs import self_signed_cert

T = TypeVar("T")
PASSWORD = "correct-horse-battery"
TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture
def vault(tmp_path: Path) -> AssetVault:
    return AssetVault(Store(tmp_path / "data"), tmp_path / "data", environ={})


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def data_dir_text(tmp_path: Path) -> str:
    return "".join(
        p.read_text(errors="replace") for p in (tmp_path / "data").rglob("*") if p.is_file()
    )


def test_each_kind_resolves_decrypted_and_is_stored_encrypted(
    vault: AssetVault, tmp_path: Path
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    cert, cert_key = self_signed_cert(tmp_path)
    run(vault.set_credential("DbAdmin", "admin", password=PASSWORD))
    run(vault.set_credential("deploy", "deployer", private_key=key))
    run(vault.set_variable("plain", {"a": 1}))
    run(vault.set_variable("hidden", "s3cret-value", encrypted=True))
    run(vault.set_connection("api", {"endpoint": "https://x", "token": TOKEN}, secret=["token"]))
    run(vault.set_certificate("tls", cert.read_text() + cert_key.read_text()))

    admin = vault.resolve("dbadmin", AssetKind.CREDENTIAL)  # names are case-insensitive
    assert (admin.values["username"], admin.values["password"]) == ("admin", PASSWORD)
    assert vault.resolve("deploy").values["private_key"] == key
    assert vault.resolve("plain").values["value"] == {"a": 1}
    assert vault.resolve("hidden").values["value"] == "s3cret-value"
    assert vault.resolve("api").values == {"endpoint": "https://x", "token": TOKEN}
    assert PASSWORD not in repr(admin)
    secrets = vault.secret_values()
    assert {PASSWORD, key, TOKEN} <= set(secrets)
    assert "s3cret-value" in secrets and '"s3cret-value"' not in secrets
    stored = data_dir_text(tmp_path)
    for secret in (PASSWORD, TOKEN, "s3cret-value", "PRIVATE KEY"):
        assert secret not in stored


def test_views_carry_no_secret(vault: AssetVault, tmp_path: Path) -> None:
    cert, cert_key = self_signed_cert(tmp_path)
    run(vault.set_credential("db", "admin", password=PASSWORD))
    tls = run(vault.set_certificate("tls", cert.read_text() + cert_key.read_text()))
    views = run(vault.entries())
    assert [v.name for v in views] == ["db", "tls"]
    assert PASSWORD not in repr(views) and "PRIVATE KEY" not in repr(views)
    assert tls.fields["subject"] == "CN=127.0.0.1" and len(tls.fields["thumbprint"]) == 40
    assert tls.secret_fields == ("private_key",)


def test_unknown_and_wrong_kind(vault: AssetVault) -> None:
    run(vault.set_variable("v", 1))
    with pytest.raises(AssetNotFound, match="no asset named 'nope'"):
        vault.resolve("nope")
    with pytest.raises(WrongAssetKind, match="is a variable, not a credential"):
        vault.resolve("v", AssetKind.CREDENTIAL)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: v.set_credential("9bad", "u", password=PASSWORD), "invalid asset name"),
        (lambda v: v.set_credential("c", "u"), "either a password or a private key"),
        (
            lambda v: v.set_credential("c", "u", password=PASSWORD, private_key="x"),
            "either a password or a private key",
        ),
        (lambda v: v.set_credential("c", "u", password="abc"), "too short to mask safely"),
        (lambda v: v.set_credential("c", "u", private_key="junk"), "private key cannot be read"),
        (lambda v: v.set_connection("c", {"a-b": "x"}), "is not a name"),
        (lambda v: v.set_connection("c", {"t": "ab"}, secret=["t"]), "too short"),
        (lambda v: v.set_certificate("c", "no pem here"), "no certificate"),
        (lambda v: v.set_variable("c", "ab", encrypted=True), "too short"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    vault: AssetVault, call: Callable[[AssetVault], Coroutine[Any, Any, Any]], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        run(call(vault))
    assert run(vault.entries()) == []


def test_certificate_without_key_or_with_a_foreign_key(vault: AssetVault, tmp_path: Path) -> None:
    cert, _ = self_signed_cert(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = self_signed_cert(tmp_path / "other")
    with pytest.raises(UsageError, match="no private key"):
        run(vault.set_certificate("c", cert.read_text()))
    with pytest.raises(UsageError, match="does not belong"):
        run(vault.set_certificate("c", cert.read_text() + other_key.read_text()))
    assert run(vault.entries()) == []


def test_encrypted_variable_cannot_become_plain(vault: AssetVault) -> None:
    run(vault.set_variable("v", "s3cret-value", encrypted=True))
    with pytest.raises(UsageError, match="cannot become a plain one"):
        run(vault.set_variable("v", "public"))
    assert vault.resolve("v").values["value"] == "s3cret-value"


def test_delete_refused_while_used_unless_forced(tmp_path: Path) -> None:
    vault = AssetVault(
        Store(tmp_path / "d"),
        tmp_path / "d",
        users=lambda: {"db": ["schedule:nightly"]},
        environ={},
    )
    run(vault.set_credential("DB", "admin", password=PASSWORD))
    with pytest.raises(UsageError, match="used by schedule:nightly"):
        run(vault.delete("db"))
    assert run(vault.delete("db", force=True)).name == "DB"
    assert run(vault.entries()) == []
    assert PASSWORD not in vault.secret_values()


def test_a_key_with_a_wrong_or_missing_passphrase_is_refused(vault: AssetVault) -> None:
    locked = asyncssh.generate_private_key("ssh-ed25519").export_private_key(
        "pkcs8-pem", "the-right-one"
    )
    for passphrase in ("the-wrong-one", None):
        with pytest.raises(UsageError, match="wrong or missing passphrase"):
            run(vault.set_credential("k", "u", private_key=locked.decode(), passphrase=passphrase))
    run(vault.set_credential("k", "u", private_key=locked.decode(), passphrase="the-right-one"))
    assert vault.resolve("k").values["passphrase"] == "the-right-one"


def test_the_engines_masker_follows_the_vault(vault: AssetVault) -> None:
    """As the engine builds it: secrets set or deleted after the first line count."""
    masker = SecretMasker(vault.secret_values, vault.secrets_version)
    assert masker.mask(f"pw {PASSWORD}") == f"pw {PASSWORD}"
    run(vault.set_credential("db", "admin", password=PASSWORD))
    assert masker.mask(f"pw {PASSWORD}") == f"pw {MASK}"
    run(vault.delete("db"))
    assert masker.mask(f"pw {PASSWORD}") == f"pw {PASSWORD}"
