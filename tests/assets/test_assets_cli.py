"""`opsconsole assets ...` as real processes on a real data directory: each kind set,
listed and shown without a secret anywhere (output or files), the values readable by
the engine afterwards, and bad input refused with exit 2 and nothing stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import asyncssh
import pytest

from console.assets.vault import AssetVault
from console.secrets import KEY_ENV, PREVIOUS_KEY_ENV, SecretBox
from console.store import Store
from tests.assets.conftest import RunAssets, files_containing
from tests.certs import self_signed_cert
from tests.serve.conftest import OPSCONSOLE, Site, runbook

PASSWORD = "pw-Correct-Horse-42"
PASSPHRASE = "phrase-Battery-17"
TOKEN = "tok-Staple-99xx"
HIDDEN = "hidden-Value-5150"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def test_every_kind_set_listed_and_shown_without_a_secret(
    site: Site, assets: RunAssets, tmp_path: Path
) -> None:
    key_file = tmp_path / "id_ed25519"
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file.write_bytes(key.export_private_key("pkcs8-pem", PASSPHRASE))
    cert, cert_key = self_signed_cert(tmp_path)
    pem = tmp_path / "both.pem"
    pem.write_text(cert.read_text() + cert_key.read_text())

    ok(
        assets(
            "set-credential",
            "DbAdmin",
            "--username",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    )
    ok(
        assets(
            "set-credential",
            "deploy",
            "--username",
            "deployer",
            "--key-file",
            str(key_file),
            "--passphrase-stdin",
            stdin=PASSPHRASE + "\n",
        )
    )
    ok(assets("set-variable", "limits", '{"max": 3}', "--description", "plain JSON"))
    ok(assets("set-variable", "hidden", "-", "--encrypted", stdin=HIDDEN + "\n"))
    ok(
        assets(
            "set-connection",
            "api",
            "endpoint=https://api.example",
            "--secret",
            "token",
            stdin=TOKEN + "\n",
        )
    )
    ok(assets("set-certificate", "tls", "--pem", str(pem)))

    listed = json.loads(ok(assets("list", "--json")))
    assert [(a["name"], a["kind"], a["encrypted"]) for a in listed] == [
        ("api", "connection", True),
        ("DbAdmin", "credential", True),
        ("deploy", "credential", True),
        ("hidden", "variable", True),
        ("limits", "variable", False),
        ("tls", "certificate", True),
    ]
    shown = {n: ok(assets("show", n, "--json")) for n in ("api", "dbadmin", "deploy", "tls")}
    human = ok(assets("show", "tls")) + ok(assets("list"))
    assert json.loads(shown["tls"])["fields"]["subject"] == "CN=127.0.0.1"
    assert json.loads(shown["api"])["fields"] == {"endpoint": "https://api.example"}
    private_pem = cert_key.read_text().splitlines()[1]  # a line of the certificate's key
    key_text = key_file.read_text().splitlines()[1]
    for secret in (PASSWORD, PASSPHRASE, TOKEN, HIDDEN, private_pem, key_text):
        everything = json.dumps(listed) + "".join(shown.values()) + human
        assert secret not in everything
        assert not files_containing(site.data_dir, secret), f"{secret[:6]}... stored in clear"

    vault = AssetVault(Store(site.data_dir), site.data_dir, environ={})
    assert vault.resolve("dbadmin").values["password"] == PASSWORD
    assert vault.resolve("deploy").values["passphrase"] == PASSPHRASE
    assert vault.resolve("hidden").values["value"] == HIDDEN
    assert vault.resolve("limits").values["value"] == {"max": 3}
    assert vault.resolve("api").values["token"] == TOKEN
    assert vault.resolve("tls").values["private_key"] == cert_key.read_text()


def _bad_pem(tmp_path: Path) -> str:
    bad = tmp_path / "cert-only.pem"
    bad.write_text(self_signed_cert(tmp_path)[0].read_text())
    return str(bad)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("show", "nope"), "", "no asset named 'nope'"),
        (("delete", "nope"), "", "no asset named 'nope'"),
        (
            ("set-credential", "c", "--username", "u", "--key-file", "/no/such/key"),
            "",
            "--key-file /no/such/key: no such file",
        ),
        (
            ("set-credential", "c", "--username", "u", "--password-stdin"),
            "abc\n",
            "too short to mask safely",
        ),
        (("set-credential", "c", "--username", "u", "--password-stdin"), "", "no password"),
        (("set-connection", "c", "url=x", "token=ab", "--secret", "token"), "", "too short"),
        (("set-connection", "c", "bad-field=x"), "", "is not a name"),
        (
            ("set-connection", "c", "kind=db"),
            "",
            "connection field 'kind' would be the variable `..._KIND`, which the runbook "
            "helpers use for the asset itself",
        ),
        (("set-connection", "c", "url=x", "fields=a"), "", "connection field 'fields' would be"),
        (
            ("set-connection", "c", "Url=x", "url=y"),
            "",
            "connection fields 'Url' and 'url' would both be the variable `..._URL`",
        ),
        (("set-certificate", "c", "--pem", "BAD_PEM"), "", "no private key"),
        (("set-variable", "9x", "1"), "", "invalid asset name"),
        (("set-variable", "v", "-"), "x", "is for --encrypted variables"),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(
    site: Site, assets: RunAssets, tmp_path: Path, args: tuple[str, ...], stdin: str, message: str
) -> None:
    args = tuple(_bad_pem(tmp_path) if a == "BAD_PEM" else a for a in args)
    result = assets(*args, stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert json.loads(ok(assets("list", "--json"))) == []


def test_a_certificate_with_an_encrypted_key_is_refused_with_the_fix(
    assets: RunAssets, tmp_path: Path
) -> None:
    """The key is stored under the vault's key, so it must come unencrypted: the
    command says so (exit 2) and stores nothing."""
    from cryptography.hazmat.primitives import serialization

    cert, key_path = self_signed_cert(tmp_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    pem = tmp_path / "encrypted.pem"
    pem.write_bytes(cert.read_bytes() + encrypted)
    result = assets("set-certificate", "tls", "--pem", str(pem))
    assert result.returncode == 2
    assert (
        "tls: the PEM's certificate or private key is encrypted: give the certificate and "
        "its unencrypted private key"
    ) in result.stderr
    assert json.loads(ok(assets("list", "--json"))) == []


def test_encrypted_variable_cannot_become_plain(assets: RunAssets) -> None:
    ok(assets("set-variable", "v", "-", "--encrypted", stdin=HIDDEN))
    result = assets("set-variable", "v", "public")
    assert result.returncode == 2 and "cannot become a plain one" in result.stderr
    assert json.loads(ok(assets("show", "v", "--json")))["encrypted"] is True


def test_wrong_secret_key_in_the_environment_is_refused(assets: RunAssets) -> None:
    right = {KEY_ENV: SecretBox.generate_key()}
    ok(
        assets(
            "set-credential", "db", "--username", "u", "--password-stdin", stdin=PASSWORD, env=right
        )
    )
    wrong = {KEY_ENV: SecretBox.generate_key()}
    for args in (("list",), ("set-variable", "x", "-", "--encrypted"), ("rotate-key",)):
        result = assets(*args, stdin=HIDDEN, env=wrong)
        assert result.returncode == 2
        assert f"${KEY_ENV} is not the key" in result.stderr
        assert wrong[KEY_ENV] not in result.stderr + result.stdout
    names = [a["name"] for a in json.loads(ok(assets("list", "--json", env=right)))]
    assert names == ["db"]


CRED_RUNBOOK = runbook(
    "uses a credential",
    'echo "$OPS_PARAM_LOGIN"',
    '# [parameters.login]\n# type = "credential"\n',
)


def test_delete_refused_while_a_schedule_or_webhook_uses_it(site: Site, assets: RunAssets) -> None:
    site.add_runbook("login.sh", CRED_RUNBOOK)
    ok(assets("set-credential", "db", "--username", "u", "--password-stdin", stdin=PASSWORD))
    ok(assets("set-credential", "other", "--username", "u", "--password-stdin", stdin=PASSWORD))
    site.cli(
        "schedules",
        "create",
        "nightly",
        "login",
        "localhost",
        "--every",
        "1",
        "days",
        "-p",
        "login=DB",
    )
    site.cli("webhooks", "create", "hook", "login", "localhost", "-p", "login=db")

    listed = {a["name"]: a["used_by"] for a in json.loads(ok(assets("list", "--json")))}
    assert listed == {"db": ["schedule:nightly", "webhook:hook"], "other": []}
    refused = assets("delete", "db")
    assert refused.returncode == 2
    assert (
        "used by schedule:nightly, webhook:hook" in refused.stderr and "--force" in refused.stderr
    )
    ok(assets("delete", "other"))
    ok(assets("delete", "db", "--force"))
    assert json.loads(ok(assets("list", "--json"))) == []


CLASHING_RUNBOOK = runbook(
    "a connection parameter beside a parameter named like one of its fields",
    'echo "$OPS_PARAM_DB_TOKEN"',
    '# [parameters.db]\n# type = "connection"\n# [parameters.db_token]\n# type = "string"\n',
)


def test_a_connection_field_clashing_with_another_parameter_makes_no_job(
    site: Site, assets: RunAssets
) -> None:
    """`db`'s field `token` and the parameter `db_token` are both OPS_PARAM_DB_TOKEN: the
    runbook would read one of them as the other, so the job is refused (exit 2)."""
    site.add_runbook("clash.sh", CLASHING_RUNBOOK)
    ok(assets("set-connection", "api", "url=https://api.example", "--secret", "token", stdin=TOKEN))
    ok(assets("set-connection", "plain", "url=https://plain.example"))
    refused = site.cli(
        "run", "clash", "localhost", "-p", "db=api", "-p", "db_token=typed", check=False
    )
    assert refused.returncode == 2
    assert (
        "clash: parameter 'db': asset 'api' gives it OPS_PARAM_DB_TOKEN, which is the "
        "variable of parameter 'db_token'; rename the asset's field or the parameter"
    ) in refused.stderr
    assert TOKEN not in refused.stdout + refused.stderr
    assert json.loads(site.cli("jobs", "list", "--json").stdout) == []
    fine = site.cli("run", "clash", "localhost", "-p", "db=plain", "-p", "db_token=typed")
    assert fine.stdout.strip().endswith("typed")


@pytest.mark.parametrize(
    ("kind", "other"), [("credential", "login_fields"), ("certificate", "login_subject")]
)
def test_a_parameter_named_like_an_asset_parameters_variable_is_refused(
    site: Site, kind: str, other: str
) -> None:
    """Known without any asset: a credential's or certificate's variables are fixed."""
    site.add_runbook(
        "shadow.sh",
        runbook(
            "shadows a variable",
            "true",
            f'# [parameters.login]\n# type = "{kind}"\n# [parameters.{other}]\n# type = "string"\n',
        ),
    )
    refused = site.cli("run", "shadow", "localhost", "-p", "login=x", check=False)
    assert refused.returncode == 2
    variable = f"OPS_PARAM_{other.upper()}"
    assert f"its variable {variable} is also the variable of parameter 'login'" in refused.stderr


def test_changing_the_environment_key_with_the_previous_one(site: Site, assets: RunAssets) -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    ok(assets("set-variable", "v", "-", "--encrypted", stdin=HIDDEN, env={KEY_ENV: old}))
    rotated = assets("rotate-key", env={KEY_ENV: new, PREVIOUS_KEY_ENV: old})
    assert "1 stored secret(s) re-encrypted" in ok(rotated)
    assert not (site.data_dir / "secret.key").exists()  # an env key is never written
    ok(assets("list", env={KEY_ENV: new}))  # the previous key is no longer needed
    vault = AssetVault(Store(site.data_dir), site.data_dir, environ={KEY_ENV: new})
    assert vault.resolve("v").values["value"] == HIDDEN


def test_a_host_logging_in_with_a_credential_uses_it(site: Site, assets: RunAssets) -> None:
    site.inventory.write_text(
        "all:\n  vars:\n    console_credential: DB\n  hosts:\n"
        "    localhost:\n      ansible_connection: local\n"
    )
    ok(assets("set-credential", "db", "--username", "u", "--password-stdin", stdin=PASSWORD))
    assert json.loads(ok(assets("show", "db", "--json")))["used_by"] == ["host:localhost"]
    refused = assets("delete", "db")
    assert refused.returncode == 2 and "used by host:localhost" in refused.stderr


def test_a_host_becoming_with_a_credential_uses_it(site: Site, assets: RunAssets) -> None:
    """sudo's password from `console_become_credential` is a use like a login's."""
    site.inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_become: true\n      console_become_credential: Sudo\n"
    )
    ok(assets("set-credential", "sudo", "--username", "u", "--password-stdin", stdin=PASSWORD))
    assert json.loads(ok(assets("show", "sudo", "--json")))["used_by"] == ["host:localhost"]
    refused = assets("delete", "sudo")
    assert refused.returncode == 2 and "used by host:localhost" in refused.stderr


def test_the_password_prompt_does_not_echo(site: Site) -> None:
    """Without --password-stdin the password is asked on the terminal, never echoed."""
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: opsconsole on the pseudo-terminal
        os.execve(
            str(OPSCONSOLE),
            [str(OPSCONSOLE), "assets", "set-credential", "db", "--username", "admin"],
            site.env,
        )
    seen = b""
    while b"password for admin:" not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, PASSWORD.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"credential db saved" in seen and PASSWORD.encode() not in seen
    vault = AssetVault(Store(site.data_dir), site.data_dir, environ={})
    assert vault.resolve("db").values["password"] == PASSWORD
