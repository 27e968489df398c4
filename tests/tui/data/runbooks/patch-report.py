# /// runbook
# description = "List pending updates"
#
# [parameters.security_only]
# type = "bool"
# default = false
#
# [parameters.classes]
# type = "list"
# default = ["Critical", "Security"]
# ///
"""Prints the update classes it would report on (the console tests only list it)."""

import os

print("classes:", os.environ.get("OPS_PARAM_CLASSES", ""))
