"""Runbooks: the catalog of runbook files, their metadata block and typed parameters,
the language plugin API (`plugin_api`, the one module plugins import) and the registry
that finds the installed languages (`languages`). Importing this package imports
nothing else, so loading the plugin API stays engine-free."""
