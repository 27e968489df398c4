"""Reading the Windows Update scripts' JSON (`console.updates.wua_script`).

Assessment: each update is a PendingUpdate named by its first KB (`KB5034441`; an
update without a KB, such as a driver, by its title), `available` its title, `source`
"Windows Update", `severity` the MSRC severity and `update_id` what a deployment
installs it by. Its classification comes from its `UpdateClassification` category,
by the category's id (fixed by Microsoft; the name is translated on non-English
Windows), else by the English name, as Azure names them: Critical, Security,
UpdateRollup, FeaturePack, ServicePack, Definition, Tools, Updates; Drivers,
Upgrades and anything unknown are Other.

Installation: a PackageResult per pending update, mapped from the result codes
(OperationResultCode 2 is Succeeded; 3 "succeeded with errors", 4 failed, 5 aborted
are Failed with the HRESULT), `window` to MaintenanceWindowExceeded, and an update no
longer offered (installed or superseded since the assessment) to NotAttempted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.changes.sections import OutputError
from console.updates.model import (
    PACKAGE_MARGIN_S,
    Assessment,
    Classification,
    PackageResult,
    PackageStatus,
    PendingUpdate,
    Selection,
)

MANAGER = "wua"
SOURCE = "Windows Update"
CLASSIFICATION_TYPE = "UpdateClassification"
BY_CATEGORY_ID = {
    "e6cf1350-c01b-414d-a61f-263d14d133b4": Classification.CRITICAL,
    "0fa1201d-4330-4fa8-8ae9-b877473b6441": Classification.SECURITY,
    "28bc880e-0592-4cbf-8f95-c79b17911d5f": Classification.UPDATE_ROLLUP,
    "b54e7d24-7add-428f-8b75-90a396fa584f": Classification.FEATURE_PACK,
    "68c5b0a3-d1a6-4553-ae49-01d3a7827828": Classification.SERVICE_PACK,
    "e0789628-ce08-4437-be74-2495b842f43b": Classification.DEFINITION,
    "b4832bd8-e735-4761-8daf-37f882276dab": Classification.TOOLS,
    "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83": Classification.UPDATES,
}
BY_CATEGORY_NAME = {
    "critical updates": Classification.CRITICAL,
    "security updates": Classification.SECURITY,
    "update rollups": Classification.UPDATE_ROLLUP,
    "feature packs": Classification.FEATURE_PACK,
    "service packs": Classification.SERVICE_PACK,
    "definition updates": Classification.DEFINITION,
    "tools": Classification.TOOLS,
    "updates": Classification.UPDATES,
}
RESULT_CODES = {0: "not started", 1: "in progress", 2: "succeeded", 3: "succeeded with errors",
                4: "failed", 5: "aborted"}  # fmt: skip


# --- assessment ---------------------------------------------------------------------------


def parse_assessment(doc: Any, host: str, assessed: float) -> Assessment:
    """The Assessment the wua-assess document describes."""
    doc = _object(doc, "wua-assess")
    reboot = doc.get("reboot_pending") is True
    if doc.get("error"):
        error = f"the Windows Update search failed: {doc['error']}"
        return Assessment(host, assessed, MANAGER, reboot_pending=reboot, error=error)
    updates = sorted(
        (_pending(raw) for raw in _list(doc, "updates")),
        key=lambda u: (u.name, u.update_id),
    )
    return Assessment(host, assessed, MANAGER, updates=tuple(updates), reboot_pending=reboot)


def _pending(raw: Any) -> PendingUpdate:
    item = _object(raw, "wua-assess updates[]")
    title = _text(item, "title")
    update_id = _text(item, "id")
    if not update_id or not title:
        raise OutputError(f"wua-assess: an update without an id or title: {item!r}"[:300])
    kbs = [str(kb) for kb in _list(item, "kb")]
    return PendingUpdate(
        name=f"KB{kbs[0]}" if kbs else title,
        installed="",
        available=title,
        classification=classify(_list(item, "categories")),
        source=SOURCE,
        severity=_text(item, "severity"),
        update_id=update_id,
    )


def classify(categories: Sequence[Any]) -> Classification:
    """The classification of an update's categories (the most urgent if several)."""
    found: list[Classification] = []
    for raw in categories:
        category = _object(raw, "wua-assess categories[]")
        if _text(category, "type") not in ("", CLASSIFICATION_TYPE):
            continue  # a product or company category
        by_id = BY_CATEGORY_ID.get(_text(category, "id").lower())
        found.append(
            by_id or BY_CATEGORY_NAME.get(_text(category, "name").lower(), Classification.OTHER)
        )
    rank = list(Classification)
    return min(found, key=rank.index, default=Classification.OTHER)


# --- installation -------------------------------------------------------------------------


def parse_install(
    docs: Sequence[Any], pending: Sequence[PendingUpdate], selection: Selection
) -> tuple[tuple[PackageResult, ...], bool]:
    """(a result per pending update in order, whether the host wants a reboot) from
    the wua-install documents of every batch. A result for an update not asked for is
    ignored; a selected update without one raises OutputError."""
    reported: dict[str, Mapping[str, Any]] = {}
    reboot = False
    for raw in docs:
        doc = _object(raw, "wua-install")
        reboot = reboot or doc.get("reboot_required") is True
        for result in _list(doc, "results"):
            item = _object(result, "wua-install results[]")
            reported.setdefault(_text(item, "id").lower(), item)
    results = tuple(_result(u, reported, selection) for u in pending)
    return results, reboot


def _result(
    update: PendingUpdate, reported: Mapping[str, Mapping[str, Any]], selection: Selection
) -> PackageResult:
    def result(status: PackageStatus, message: str = "", to: str = "") -> PackageResult:
        return PackageResult(
            update.name, update.installed, to, update.classification, status, message
        )

    if not selection.picks(update):
        return result(PackageStatus.NOT_SELECTED)
    item = reported.get(update.update_id.lower())
    if item is None:
        raise OutputError(f"wua-install: nothing for {update.name} ({update.update_id})")
    return _from_outcome(item, update, result)


def _from_outcome(item: Mapping[str, Any], update: PendingUpdate, result: Any) -> PackageResult:
    outcome = _text(item, "outcome")
    if outcome == "window":
        left = item.get("left")
        return result(
            PackageStatus.WINDOW_EXCEEDED,
            f"not started: {left} s of the window left, under the {PACKAGE_MARGIN_S} s margin",
        )
    if outcome == "notattempted":
        return result(PackageStatus.NOT_ATTEMPTED, _text(item, "message"))
    if outcome == "gone":
        return result(
            PackageStatus.NOT_ATTEMPTED,
            "no longer offered by Windows Update (installed or superseded since the assessment)",
        )
    if outcome == "failed":
        return result(PackageStatus.FAILED, _text(item, "message"))
    if outcome != "done":
        raise OutputError(f"wua-install: unknown outcome {outcome!r} for {update.name}")
    download, install = item.get("download"), item.get("install")
    if install == 2:
        return result(PackageStatus.SUCCEEDED, "", update.available)
    step, code = ("install", install) if install is not None else ("download", download)
    said = RESULT_CODES.get(code, f"result {code}") if isinstance(code, int) else "no result"
    return result(PackageStatus.FAILED, f"{step} {said} (HRESULT {_hresult(item.get('hresult'))})")


def _hresult(value: Any) -> str:
    return f"0x{value & 0xFFFFFFFF:08X}" if isinstance(value, int) else "unknown"


# --- shapes -------------------------------------------------------------------------------


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise OutputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    """A list; ConvertTo-Json writes an empty one as null and may unwrap one item."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        return [value]
    return value


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return "" if value is None else str(value)
