"""A stored job: its id rules, its stored form, and the errors naming a job."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from console.errors import OpsError, UsageError
from console.jobs.model import Job

JOB_ID = re.compile(r"^[0-9a-f]{20}$")


class JobNotFound(OpsError):
    """No job with that id in the store (never created, or removed by retention)."""


class DuplicateJob(OpsError):
    """A job with that id is already stored (a bug in the caller, not a user error)."""


def job_to_doc(job: Job) -> dict[str, Any]:
    """The stored form; parameters are copied so later changes to `job` cannot leak in."""
    doc = job.to_dict()
    doc["parameters"] = copy.deepcopy(doc["parameters"])
    return doc


def job_from_doc(doc: Mapping[str, Any]) -> Job:
    return Job.from_dict({**doc, "parameters": copy.deepcopy(doc.get("parameters") or {})})


def entry_problem(start: str, doc: dict[str, Any]) -> str | None:
    """Why a journal entry that parsed cannot be a job change, or None when it can."""
    job_id = str(doc.get("id"))
    if not (JOB_ID.match(start) and JOB_ID.match(job_id) and start <= job_id):
        return "not a job id in its segment"
    try:
        job_from_doc(doc)
    except (ValueError, KeyError, TypeError) as exc:
        return f"not a job ({exc!r})"
    return None


def check_id(job_id: str) -> None:
    if not JOB_ID.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (job ids are 20 hex digits)")
