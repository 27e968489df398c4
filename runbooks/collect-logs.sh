#!/bin/sh
# /// runbook
# description = "Show the last lines of log files, optionally only lines containing a text"
# timeout = 120
#
# [parameters.files]
# type = "list"
# default = ["/var/log/syslog", "/var/log/messages"]
# description = "Log files (comma-separated or a JSON array); missing ones give a warning"
#
# [parameters.lines]
# type = "int"
# default = 50
# description = "How many lines from the end of each file"
#
# [parameters.contains]
# type = "string"
# description = "Only lines containing this text (a fixed string, not a pattern)"
# ///
set -u

lines=$OPS_PARAM_LINES
found=0
# OPS_PARAM_FILES_LINES holds one file per line; the here-document keeps the loop in
# this shell, so `found` survives it. Expanded values are never run as code.
while IFS= read -r file; do
    [ -n "$file" ] || continue
    if [ ! -e "$file" ]; then
        printf '::warning::%s: no such file\n' "$file"
    elif [ ! -r "$file" ]; then
        printf '::warning::%s: not readable by %s\n' "$file" "$(id -un)"
    else
        found=$((found + 1))
        printf '==> %s <==\n' "$file"
        if [ -n "${OPS_PARAM_CONTAINS:-}" ]; then
            tail -n "$lines" -- "$file" | grep -F -e "$OPS_PARAM_CONTAINS" || true
        else
            tail -n "$lines" -- "$file"
        fi
    fi
done <<LIST
$OPS_PARAM_FILES_LINES
LIST

if [ "$found" -eq 0 ]; then
    printf '::error::none of the files could be read\n'
    exit 1
fi
