"""opsconsole's engine: inventory, transports, runbooks, jobs, store, scheduler, webhooks.

Nothing in this package may import Textual (tests/test_import_rules.py enforces it):
the same engine runs headless under `opsconsole serve`.
"""
