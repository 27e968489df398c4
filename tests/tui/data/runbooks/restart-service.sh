#!/bin/sh
# /// runbook
# description = "Restart a systemd unit"
# target = "web"
#
# [parameters.service]
# type = "string"
# required = true
# description = "unit name"
#
# [parameters.delay]
# type = "int"
# default = 0
#
# [parameters.mode]
# type = "choice"
# choices = ["restart", "reload"]
# default = "restart"
# ///
sleep "$OPS_PARAM_DELAY"
echo "systemctl $OPS_PARAM_MODE $OPS_PARAM_SERVICE"
