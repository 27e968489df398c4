"""Runbooks: the catalog of runbook files, their metadata and typed parameters, and the
language plugin interface (`languages`) that turns a runbook into a command."""
