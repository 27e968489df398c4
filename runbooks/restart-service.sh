#!/bin/sh
# /// runbook
# description = "Restart (or start, stop, reload, check) a service with systemd or SysV init"
# timeout = 120
#
# [parameters.service]
# type = "string"
# required = true
# description = "The service's name, e.g. nginx or ssh"
#
# [parameters.action]
# type = "choice"
# choices = ["restart", "start", "stop", "reload", "status"]
# default = "restart"
# description = "What to do with it"
# ///
set -u

service=$OPS_PARAM_SERVICE
action=$OPS_PARAM_ACTION

# A service name is a word: this also keeps "../" out of /etc/init.d paths.
case $service in
    '' | -* | *[!A-Za-z0-9@._:-]*)
        printf '::error::not a service name: %s\n' "$service"
        exit 2 ;;
esac

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# systemd only counts when it is the running init (containers often have the binary only).
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    printf '::verbose::using systemd\n'
    if [ "$action" = status ]; then
        systemctl status --no-pager "$service"
        exit $?
    fi
    as_root systemctl "$action" "$service" || exit $?
    systemctl is-active "$service" || [ "$action" = stop ]
    exit $?
elif command -v service >/dev/null 2>&1; then
    printf '::verbose::using SysV service\n'
    as_root service "$service" "$action"
    exit $?
elif [ -x "/etc/init.d/$service" ]; then
    printf '::verbose::using /etc/init.d/%s\n' "$service"
    as_root "/etc/init.d/$service" "$action"
    exit $?
fi
printf '::error::no systemd, service command or /etc/init.d/%s on this host\n' "$service"
exit 1
