#!/bin/sh
# /// runbook
# description = "Report disk usage"
#
# [parameters.path]
# type = "string"
# default = "/"
# ///
df -h "$OPS_PARAM_PATH"
