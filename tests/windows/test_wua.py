"""Windows Update: the wua-assess and wua-install recordings read as the console reads
them, and assess()/install_updates() run on a Windows stand-in host that answers each
PowerShell command line with its recording (tests/windows/recordings, see its README)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from console.changes.sections import OutputError
from console.errors import UsageError
from console.inventory.model import Host
from console.updates.assess import assess
from console.updates.deploy import DeployScriptFailed, install_updates
from console.updates.model import (
    PACKAGE_MARGIN_S,
    Classification,
    PackageStatus,
    Selection,
)
from console.updates.rules import classifications
from console.updates.wua_parse import classify, parse_assessment, parse_install
from console.updates.wua_script import (
    INSTALL_BATCH,
    assess_script,
    install_script,
    install_task_script,
)
from console.windows.powershell import MAX_COMMAND_LINE, powershell_command, script_name
from tests.windows.recorded_host import RECORDINGS, RecordedWindowsHost

WINDOWS = Host("win-app01", {"ansible_connection": "winrm"})
ANY_ID = "6b29fc40-ca47-1067-b31d-00dd010662da"


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


def assessed() -> Any:
    return parse_assessment(recording("wua-assess"), "win-app01", 1.0)


def by_title_start(start: str) -> Any:
    (found,) = [u for u in assessed().updates if u.available.startswith(start)]
    return found


# --- the scripts ----------------------------------------------------------------------


LONG_FOLDER = (
    "C:\\Users\\a-rather-long-domain-user.name\\AppData\\Local\\Temp\\opsconsole." + "f" * 32
)


@pytest.mark.parametrize(
    ("name", "script"),
    [
        ("wua-assess", assess_script(True)),
        ("wua-install", install_script([ANY_ID] * INSTALL_BATCH, 3600)),
    ],
)
def test_scripts_are_marked_print_json_and_fit_a_command_line(name: str, script: str) -> None:
    assert script_name(script) == name
    assert script.rstrip().splitlines()[-1].startswith("ConvertTo-Json -InputObject $r -Depth 6")
    assert len(powershell_command(script)) <= MAX_COMMAND_LINE


def test_the_install_task_wrapper_of_a_full_batch_fits_a_command_line() -> None:
    script = install_task_script(
        [ANY_ID] * INSTALL_BATCH, f"{LONG_FOLDER}\\wua-install.ps1", f"{LONG_FOLDER}\\r.json"
    )
    assert script_name(script) == "wua-install"
    assert len(powershell_command(script)) <= MAX_COMMAND_LINE


def test_the_install_script_run_by_the_task_writes_its_json_to_the_result_file() -> None:
    script = install_script([ANY_ID], 3600, "C:\\Temp\\O'Brien\\wua-result.json")
    last = script.rstrip().splitlines()[-1]
    assert last.endswith(
        "|Set-Content -Encoding UTF8 -LiteralPath 'C:\\Temp\\O''Brien\\wua-result.json'"
    )


def test_the_assessment_searches_online_only_when_asked_to_refresh() -> None:
    assert "$q.Online=$true" in assess_script(True)
    assert "$q.Online=$false" in assess_script(False)


def test_an_install_script_takes_only_update_ids() -> None:
    with pytest.raises(UsageError, match="not a Windows Update id"):
        install_script(["KB5034770'; Remove-Item C:\\ -Recurse; '"], 3600)
    script = install_script([ANY_ID], 7200.9)
    assert f"$ids=@('{ANY_ID}');$left=7200;$margin={PACKAGE_MARGIN_S}" in script


# --- the assessment recording -----------------------------------------------------------


def test_each_update_is_classified_from_its_classification_category() -> None:
    cumulative = by_title_start("2024-02 Cumulative Update for Microsoft server")
    assert (cumulative.name, cumulative.classification, cumulative.severity) == (
        "KB5034770",
        Classification.SECURITY,
        "Critical",
    )
    assert cumulative.source == "Windows Update"
    assert cumulative.update_id == "5a1b0c8e-3f2d-4e6a-9b7c-1d2e3f4a5b6c"
    assert by_title_start("2024-02 Cumulative Update for .NET").severity == "Important"
    assert by_title_start("Security Intelligence").classification is Classification.DEFINITION
    assert by_title_start("Windows Malicious").classification is Classification.UPDATE_ROLLUP
    assert by_title_start("Microsoft .NET Framework 4.8.1").classification is (
        Classification.FEATURE_PACK
    )
    assert by_title_start("2024-01 Update").classification is Classification.CRITICAL
    assert by_title_start("Windows Admin Center").classification is Classification.TOOLS
    driver = by_title_start("Intel")
    assert (driver.name, driver.classification) == ("Intel - System - 10.1.18793.8276", "Other")


def test_counts_per_classification_reboot_and_compliance() -> None:
    assessment = assessed()
    counts = {c.value: assessment.count(c) for c in Classification if assessment.count(c)}
    assert counts == {
        "Critical": 1,
        "Security": 2,
        "UpdateRollup": 1,
        "FeaturePack": 1,
        "Definition": 1,
        "Tools": 1,
        "Updates": 1,
        "Other": 1,
    }
    assert assessment.manager == "wua"
    assert assessment.reboot_pending
    assert not assessment.compliant  # Critical and Security updates pending


def test_a_translated_category_is_classified_by_its_id() -> None:
    german = {"name": "Sicherheitsupdates", "type": "UpdateClassification",
              "id": "0FA1201D-4330-4FA8-8AE9-B877473B6441"}  # fmt: skip
    product = {"name": "Windows Server 2019", "type": "Product", "id": ANY_ID}
    assert classify([product, german]) is Classification.SECURITY
    assert classify([product]) is Classification.OTHER


def test_a_failed_search_is_the_assessment_error() -> None:
    doc = {"reboot_pending": False, "error": "0x8024402C name not resolved", "updates": None}
    assessment = parse_assessment(doc, "win-app01", 1.0)
    assert assessment.error == "the Windows Update search failed: 0x8024402C name not resolved"
    assert assessment.updates == ()


def test_the_windows_classifications_can_be_selected_by_name() -> None:
    assert classifications("definition,UpdateRollup") == (
        Classification.DEFINITION,
        Classification.UPDATE_ROLLUP,
    )


# --- the install recording --------------------------------------------------------------


def test_install_results_map_to_package_statuses() -> None:
    pending = assessed().updates
    every = Selection(include=("*",))
    results, reboot = parse_install([recording("wua-install")], pending, every)
    by_name: dict[str, list[Any]] = {}
    for result in results:
        by_name.setdefault(result.name, []).append(result)
    assert reboot
    (cumulative,) = by_name["KB5034770"]
    assert cumulative.status is PackageStatus.SUCCEEDED
    assert cumulative.to_version.endswith("(KB5034770)")
    (dotnet,) = by_name["KB5034685"]
    assert (dotnet.status, dotnet.message) == (
        PackageStatus.FAILED,
        "install failed (HRESULT 0x80240017)",
    )
    assert by_name["KB2267602"][0].status is PackageStatus.SUCCEEDED
    (msrt,) = by_name["KB890830"]
    assert msrt.status is PackageStatus.FAILED and "E_ACCESSDENIED" in msrt.message
    (feature,) = by_name["KB5011048"]
    assert feature.status is PackageStatus.WINDOW_EXCEEDED and "840 s" in feature.message
    shared = sorted(r.status for r in by_name["KB5034613"])  # two updates, one KB
    assert shared == [PackageStatus.FAILED, PackageStatus.NOT_ATTEMPTED]
    assert len(results) == len(pending)


def test_unselected_updates_are_not_selected_and_extra_results_ignored() -> None:
    pending = assessed().updates
    security = Selection(classifications=(Classification.SECURITY,))
    results, _ = parse_install([recording("wua-install")], pending, security)
    picked = {r.name: r.status for r in results if r.status is not PackageStatus.NOT_SELECTED}
    assert picked == {"KB5034770": PackageStatus.SUCCEEDED, "KB5034685": PackageStatus.FAILED}


def test_a_selected_update_without_a_result_is_an_output_error() -> None:
    pending = assessed().updates
    with pytest.raises(OutputError, match="nothing for KB5034770"):
        parse_install([{"results": []}], pending, Selection(include=("KB5034770",)))


# --- assess() and install_updates() on a Windows host -----------------------------------


async def test_assess_asks_windows_update_on_a_windows_host() -> None:
    transport = RecordedWindowsHost(WINDOWS)
    assessment = await assess(transport, "win-app01", refresh=False)
    assert [script_name(s) for s in transport.scripts] == ["wua-assess"]
    assert "$q.Online=$false" in transport.scripts[0]
    assert assessment.count(Classification.SECURITY) == 2


async def test_install_updates_runs_the_selected_ids_in_a_system_task() -> None:
    transport = RecordedWindowsHost(WINDOWS)
    pending = assessed().updates
    security = Selection(classifications=(Classification.SECURITY,))
    outcome = await install_updates(transport, "win-app01", pending, security, time.time() + 3600)
    ids = ",".join(f"'{u.update_id}'" for u in pending if security.picks(u))
    (workdir,) = transport.workdirs
    (wrapper,) = transport.scripts
    (uploaded_path, uploaded), *_ = transport.uploads.items()
    installer = uploaded.decode("utf-8-sig")
    # The install script itself is uploaded (WUA refuses a network logon's install)...
    assert uploaded_path == f"{workdir}\\wua-install.ps1"
    assert installer.split("$ids=@(")[1].split(")")[0] == ids
    assert "$i.Install()" in installer and "-LiteralPath '" + workdir in installer
    # ...and the wrapper runs it as SYSTEM in a one-off task, then prints its result.
    assert f"$script='{uploaded_path}'" in wrapper
    assert "UserId='NT AUTHORITY\\SYSTEM'" in wrapper and "Unregister-ScheduledTask" in wrapper
    assert "$i.Install()" not in wrapper
    assert transport.removed == [workdir]
    assert outcome.reboot_required and not outcome.succeeded


async def test_many_selected_updates_go_in_several_runs() -> None:
    transport = RecordedWindowsHost(WINDOWS, {"wua-install": b'{"results":[]}'})
    base = assessed().updates[0]
    pending = [replace(base, update_id=f"{n:08x}-0000-4000-8000-000000000000") for n in range(45)]
    with pytest.raises(DeployScriptFailed, match="wua-install: nothing for"):
        await install_updates(
            transport, "win-app01", pending, Selection(include=("*",)), time.time() + 3600
        )
    sizes = [s.count("-0000-4000-") for s in transport.scripts]
    assert sizes == [20, 20, 5]
    assert all(len(powershell_command(s)) <= MAX_COMMAND_LINE for s in transport.scripts)
    assert transport.removed == transport.workdirs and len(transport.workdirs) == 3


async def test_nothing_selected_still_asks_whether_a_reboot_is_pending() -> None:
    answer = b'{"error":null,"reboot_required":true,"results":[]}'
    transport = RecordedWindowsHost(WINDOWS, {"wua-install": answer})
    nothing = Selection(include=("KB0000000",))
    outcome = await install_updates(
        transport, "win-app01", assessed().updates, nothing, time.time() + 3600
    )
    (script,) = transport.scripts
    assert "$ids=@();" in script
    assert outcome.reboot_required and outcome.succeeded
    assert {r.status for r in outcome.results} == {PackageStatus.NOT_SELECTED}
