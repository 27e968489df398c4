"""Update management: what is pending where, and what a deployment did.

Azure Update Management's vocabulary: an assessment lists a host's pending updates
with a classification; a deployment installs those a selection picks (classifications,
include and exclude masks; exclusions win) within a maintenance window, with a reboot
setting, optional pre and post runbooks, and a result per host and per package.

Plain data: the engine, the CLI, the control API and the console all pass these.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum

# Azure: no package starts with less than 15 minutes of the window left, no reboot
# with less than 10 (console.updates.deploy enforces them; the CLI refuses a shorter window).
PACKAGE_MARGIN_S = 15 * 60
REBOOT_MARGIN_S = 10 * 60
DEFAULT_REASSESS_S = 6 * 3600


class Classification(StrEnum):
    """Most urgent first (the console lists packages in this order). Linux uses
    Critical, Security, Bugfix, Enhancement and Other; Windows Update's are Azure's
    names for the update's classification category (console.updates.wua_parse)."""

    CRITICAL = "Critical"
    SECURITY = "Security"
    BUGFIX = "Bugfix"
    ENHANCEMENT = "Enhancement"
    UPDATE_ROLLUP = "UpdateRollup"
    SERVICE_PACK = "ServicePack"
    FEATURE_PACK = "FeaturePack"
    DEFINITION = "Definition"
    TOOLS = "Tools"
    UPDATES = "Updates"
    OTHER = "Other"


class RebootSetting(StrEnum):
    IF_REQUIRED = "IfRequired"
    NEVER = "Never"
    ALWAYS = "Always"
    REBOOT_ONLY = "RebootOnly"  # no package: only the reboot


class PackageStatus(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NOT_ATTEMPTED = "NotAttempted"  # selected, but the host's run stopped before it
    NOT_SELECTED = "NotSelected"  # pending, but not picked by the selection
    WINDOW_EXCEEDED = "MaintenanceWindowExceeded"  # too little of the window left


@dataclass(frozen=True)
class PendingUpdate:
    name: str
    installed: str  # "" for a package the upgrade would newly install
    available: str
    classification: Classification
    source: str  # where the candidate comes from, e.g. "Debian-Security:12/bookworm-security"
    arch: str = ""
    # Windows Update only: the MSRC severity (Critical, Important, Moderate, Low) and
    # the update's id, which a deployment installs it by (a KB may name several).
    severity: str = ""
    update_id: str = ""


@dataclass(frozen=True)
class Assessment:
    """One host's pending updates at `assessed` (epoch seconds). `error` says why it
    failed (then `updates` is empty and says nothing), e.g. a dpkg lock held too long."""

    host: str
    assessed: float
    manager: str = ""  # apt | dnf | yum | zypper | wua (Windows Update Agent)
    updates: tuple[PendingUpdate, ...] = ()
    reboot_pending: bool = False
    reboot_packages: tuple[str, ...] = ()  # /var/run/reboot-required.pkgs
    error: str = ""

    def count(self, classification: Classification) -> int:
        return sum(u.classification is classification for u in self.updates)

    @property
    def compliant(self) -> bool:
        """No Critical or Security update pending (the pane's at-a-glance column)."""
        return not self.error and not any(
            u.classification in (Classification.CRITICAL, Classification.SECURITY)
            for u in self.updates
        )


@dataclass(frozen=True)
class Selection:
    """Which pending updates a deployment installs: by classification or by an
    include mask (fnmatch globs on the package name), never one an exclude mask names."""

    classifications: tuple[Classification, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def picks(self, update: PendingUpdate) -> bool:
        if any(fnmatch.fnmatchcase(update.name, mask) for mask in self.exclude):
            return False
        return update.classification in self.classifications or any(
            fnmatch.fnmatchcase(update.name, mask) for mask in self.include
        )


@dataclass(frozen=True)
class Deployment:
    """An update deployment as the user defined it (`updates deploy`)."""

    name: str
    pattern: str
    selection: Selection
    window_s: float = 2 * 3600
    reboot: RebootSetting = RebootSetting.IF_REQUIRED
    pre: str | None = None  # runbook run on each host before, after with `post`
    post: str | None = None
    stop_on_pre_failure: bool = False  # a failed pre-runbook stops the run, not the host


@dataclass(frozen=True)
class PackageResult:
    name: str
    from_version: str
    to_version: str
    classification: Classification
    status: PackageStatus
    message: str = ""


@dataclass(frozen=True)
class HostDeployment:
    """What a deployment did on one host. `status`: Succeeded when every selected
    package succeeded (and the reboot, if one was due, came back), else Failed, or
    Skipped (pre-runbook failed, or the run was stopped before the host started)."""

    host: str
    status: str
    packages: tuple[PackageResult, ...] = ()
    rebooted: bool = False
    reboot_note: str = ""  # e.g. "not required", "back after 42 s", "did not come back in 600 s"
    error: str = ""
