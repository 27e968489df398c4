#!/bin/sh
# /// runbook
# description = "Report filesystem usage; a warning for each one at or over the threshold"
# timeout = 60
#
# [parameters.threshold]
# type = "int"
# default = 80
# description = "Warn when a filesystem is at least this full (percent, 1-100)"
#
# [parameters.include_pseudo]
# type = "bool"
# default = false
# description = "Also list in-memory filesystems (tmpfs, devtmpfs, overlay, ...)"
#
# [parameters.fail_when_over]
# type = "bool"
# default = false
# description = "Exit with status 1 (job Failed) when any filesystem is over the threshold"
# ///
set -eu

threshold=$OPS_PARAM_THRESHOLD
if [ "$threshold" -lt 1 ] || [ "$threshold" -gt 100 ]; then
    printf '::error::threshold must be between 1 and 100, got %s\n' "$threshold"
    exit 2
fi

# df -P: device, size, used, available, capacity, mount point (which may hold spaces).
df -P -k | awk -v limit="$threshold" -v pseudo="$OPS_PARAM_INCLUDE_PSEUDO" \
    -v fail="$OPS_PARAM_FAIL_WHEN_OVER" '
NR == 1 { next }
{
    device = $1; percent = $5; sub(/%$/, "", percent)
    mount = $6; for (i = 7; i <= NF; i++) mount = mount " " $i
    if (percent !~ /^[0-9]+$/) next
    if (pseudo != "true" && device ~ /^(tmpfs|devtmpfs|overlay|shm|udev|none|proc|sysfs)$/) next
    printf "%3d%%  %-30s %10.1f GiB used of %.1f GiB\n", percent, mount, $3 / 1048576, $2 / 1048576
    if (percent + 0 >= limit + 0) {
        printf "::warning::%s is %d%% full (threshold %d%%)\n", mount, percent, limit
        over++
    }
}
END {
    printf "::verbose::%d filesystem(s) at or over %d%%\n", over, limit
    if (over > 0 && fail == "true") exit 1
}'
