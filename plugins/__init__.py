"""opsconsole's built-in runbook languages: shell, python and powershell.

Each is found through the `opsconsole.runbook_languages` entry points like any
third-party language (see `console.runbooks.plugin_api`); nothing imports this package directly.
"""
