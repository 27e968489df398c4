"""Values too big for the environment, in every language (see console.runbooks.env_files).

Each runbook is built by the real catalog and run with a real `sh -c` whose environment
is exactly the invocation's: a value left in the environment over Linux's 128 KiB
per-string limit would fail the start with "Argument list too long".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from console.errors import UsageError
from console.runbooks.catalog import RunbookCatalog
from console.runbooks.env_files import ENV_TOTAL_LIMIT, ENV_VALUE_LIMIT
from console.runbooks.languages import LanguageRegistry
from console.runbooks.parameters import parse_values
from console.runbooks.plugin_api import Invocation, Runbook, TargetInfo
from tests.runbooks.conftest import RunInvocation

META = """\
# /// runbook
# [parameters.note]
# required = true
# [parameters.items]
# type = "list"
# ///
"""

SHELL = (
    "#!/bin/sh\n"
    + META
    + """\
sum() { sha256sum < "$1" | cut -d' ' -f1; }
echo "note=$(sum "$OPS_PARAM_NOTE_FILE") note_in_env=${OPS_PARAM_NOTE+yes}"
echo "items=$(sum "$OPS_PARAM_ITEMS_FILE") lines=$(sum "$OPS_PARAM_ITEMS_LINES_FILE")"
echo "hook=$(sum "$OPS_WEBHOOK_DATA_FILE") hook_in_env=${OPS_WEBHOOK_DATA+yes}"
"""
)

PYTHON = (
    META
    + """\
import hashlib, json
def sha(text): return hashlib.sha256(text.encode()).hexdigest()
print("note=" + sha(params["note"]))
print("items=" + sha(json.dumps(params["items"], separators=(",", ":"))))
print("hook=" + sha(webhook_data["RequestBody"]))
"""
)

NASTY = "é \"q\" 'q' $(touch pwned) `id` \\ \n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(
    tmp_path: Path,
    file_name: str,
    text: str,
    raw: dict[str, Any],
    webhook: dict[str, Any] | None = None,
    target: TargetInfo | None = None,
    registry: LanguageRegistry | None = None,
) -> tuple[Invocation, Path]:
    books = tmp_path / "books"
    books.mkdir(exist_ok=True)
    (books / file_name).write_text(text)
    catalog = RunbookCatalog(books, registry or LanguageRegistry())
    runbook: Runbook = catalog.get(file_name.split(".")[0])
    values = parse_values(runbook.metadata.parameters, raw, runbook.name)
    workdir = tmp_path / "work dir"
    invocation = catalog.build_invocation(
        runbook, values, target or TargetInfo(transport="local"), str(workdir), webhook
    )
    return invocation, workdir


def env_fits(invocation: Invocation) -> None:
    sizes = [len(k) + len(v.encode()) + 2 for k, v in invocation.env.items()]
    assert max(sizes) <= ENV_VALUE_LIMIT + 100 and sum(sizes) <= ENV_TOTAL_LIMIT


def big_inputs() -> tuple[dict[str, Any], dict[str, Any]]:
    note = (NASTY + "x" * 90) * 2_000  # ~200 KB
    items = [NASTY + str(n) for n in range(8_000)]  # JSON ~150 KB
    body = json.dumps({"blob": NASTY * 6_000})
    webhook = {"WebhookName": "w", "RequestHeader": {}, "RequestBody": body}
    return {"note": note, "items": items}, webhook


@pytest.mark.parametrize(
    ("file_name", "text"), [("big.sh", SHELL), ("big.py", PYTHON)], ids=["shell", "python"]
)
def test_big_parameters_and_webhook_data_reach_shell_and_python_runbooks(
    tmp_path: Path, run_invocation: RunInvocation, file_name: str, text: str
) -> None:
    raw, webhook = big_inputs()
    invocation, workdir = build(tmp_path, file_name, text, raw, webhook)
    env_fits(invocation)
    assert {"OPS_PARAM_NOTE", "OPS_PARAM_ITEMS", "OPS_WEBHOOK_DATA"}.isdisjoint(invocation.env)

    run = run_invocation(invocation, workdir)

    assert run.code == 0, run.records
    report = dict(
        pair.split("=", 1) for line in run.stream("output") for pair in line.split(" ") if pair
    )
    items_json = json.dumps(raw["items"], separators=(",", ":"))
    assert report["note"] == sha(raw["note"])
    assert report["items"] == sha(items_json)
    if file_name.endswith(".sh"):
        assert report["lines"] == sha("\n".join(raw["items"]))
        assert report["hook"] == sha(json.dumps(webhook, separators=(",", ":")))
        assert report["note_in_env"] == "" and report["hook_in_env"] == ""
    else:
        assert report["hook"] == sha(webhook["RequestBody"])
    modes = {p.name: p.stat().st_mode & 0o777 for p in workdir.iterdir()}
    assert modes["opsconsole_webhook_data.json"] == 0o600
    assert modes["opsconsole_value_OPS_PARAM_NOTE"] == 0o600


def test_powershell_gets_big_values_in_its_params_file_and_never_in_the_environment(
    tmp_path: Path,
) -> None:
    raw, webhook = big_inputs()
    text = "param([string]$Note, [object]$WebhookData)\n" + META
    invocation, workdir = build(tmp_path, "big.ps1", text, raw, webhook)
    env_fits(invocation)
    payload = json.loads(invocation.files["opsconsole_params.json"])
    assert payload["params"]["note"] == raw["note"] and payload["webhook_data"] == webhook
    file_name = Path(invocation.env["OPS_PARAM_NOTE_FILE"]).name
    assert invocation.env["OPS_PARAM_NOTE_FILE"] == f"{workdir}/{file_name}"
    assert invocation.data_files[file_name].decode() == raw["note"]


def test_small_webhook_data_is_in_the_environment_and_in_its_file(
    tmp_path: Path, run_invocation: RunInvocation
) -> None:
    webhook = {"WebhookName": "w", "RequestHeader": {}, "RequestBody": NASTY}
    text = '#!/bin/sh\nprintf %s "$OPS_WEBHOOK_DATA" | cmp - "$OPS_WEBHOOK_DATA_FILE"\n'
    invocation, workdir = build(tmp_path, "small.sh", text, {}, webhook)
    assert json.loads(invocation.env["OPS_WEBHOOK_DATA"]) == webhook
    assert run_invocation(invocation, workdir).code == 0


def test_many_medium_values_move_to_files_largest_first_until_the_rest_fits(
    tmp_path: Path,
) -> None:
    names = [f"p{n}" for n in range(8)]
    meta = "".join(f"# [parameters.{name}]\n" for name in names)
    text = f"#!/bin/sh\n# /// runbook\n{meta}# ///\n"
    raw = {name: "v" * (20_000 + n * 1_000) for n, name in enumerate(names)}  # each < 32 KiB
    invocation, _ = build(tmp_path, "many.sh", text, raw)
    env_fits(invocation)
    moved = sorted(n for n in names if f"OPS_PARAM_{n.upper()}_FILE" in invocation.env)
    kept = sorted(n for n in names if f"OPS_PARAM_{n.upper()}" in invocation.env)
    assert moved == names[-len(moved) :] and kept == names[: len(kept)]  # the largest moved
    assert len(moved) + len(kept) == len(names) and moved


def test_a_parameter_already_named_like_the_file_variable_is_a_clear_error(
    tmp_path: Path,
) -> None:
    text = "#!/bin/sh\n# /// runbook\n# [parameters.note]\n# [parameters.note_file]\n# ///\n"
    with pytest.raises(UsageError, match=r"OPS_PARAM_NOTE_FILE.*rename"):
        build(tmp_path, "clash.sh", text, {"note": "x" * 40_000, "note_file": "y"})


def test_windows_targets_get_windows_paths(tmp_path: Path) -> None:
    raw, webhook = big_inputs()
    target = TargetInfo(os_family="windows", transport="winrm")
    invocation, _ = build(tmp_path, "big.py", PYTHON, raw, webhook, target=target)
    assert invocation.env["OPS_WEBHOOK_DATA_FILE"].endswith("\\opsconsole_webhook_data.json")


def test_third_party_languages_get_the_same_files(
    thirdparty_site: Path, tmp_path: Path, run_invocation: RunInvocation
) -> None:
    raw, _ = big_inputs()
    text = META + 'sha256sum < "$OPS_PARAM_NOTE_FILE"\n'
    invocation, workdir = build(tmp_path, "big.strict.sh", text, raw)
    run = run_invocation(invocation, workdir)
    assert run.code == 0, run.records
    assert run.stream("output")[0].split()[0] == sha(raw["note"])
