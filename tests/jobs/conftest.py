"""Fixtures for the jobs tests (defined in tests/jobs/helpers.py, with their helpers)."""

from tests.jobs.helpers import job_env, jobs_inventory

__all__ = ["job_env", "jobs_inventory"]
