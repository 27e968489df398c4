# /// runbook
# description = "Print facts about the host as JSON: OS, kernel, CPU, memory, disk, uptime"
# timeout = 60
#
# [parameters.sections]
# type = "list"
# default = ["os", "cpu", "memory", "disk", "uptime"]
# description = "Which groups of facts to collect"
#
# [parameters.pretty]
# type = "bool"
# default = true
# description = "Indent the JSON for reading (false: one line, for machines)"
# ///
"""Host facts as one JSON document on the Output stream."""

import json
import os
import platform
import shutil
import socket

from opsconsole_runbook import params, verbose, warning


def os_facts():
    facts = {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    try:
        with open("/etc/os-release", encoding="utf-8") as release:
            for line in release:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "VERSION_ID", "PRETTY_NAME"):
                    facts[key.lower()] = value.strip('"')
    except OSError:
        warning("no /etc/os-release on this host")
    return facts


def cpu_facts():
    facts = {"count": os.cpu_count()}
    if hasattr(os, "getloadavg"):
        facts["load"] = [round(x, 2) for x in os.getloadavg()]
    return facts


def memory_facts():
    facts = {}
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                key, _, value = line.partition(":")
                if key in ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree"):
                    facts[key + "_mib"] = int(value.split()[0]) // 1024
    except OSError:
        warning("no /proc/meminfo on this host")
    return facts


def disk_facts():
    usage = shutil.disk_usage("/")
    return {
        "root_total_gib": round(usage.total / 2**30, 1),
        "root_used_percent": round(100 * usage.used / usage.total, 1),
    }


def uptime_facts():
    try:
        with open("/proc/uptime", encoding="utf-8") as uptime:
            return {"seconds": int(float(uptime.read().split()[0]))}
    except OSError:
        warning("no /proc/uptime on this host")
        return {}


COLLECTORS = {
    "os": os_facts,
    "cpu": cpu_facts,
    "memory": memory_facts,
    "disk": disk_facts,
    "uptime": uptime_facts,
}

facts = {}
for section in params["sections"]:
    collector = COLLECTORS.get(section)
    if collector is None:
        warning(f"unknown section {section!r}; known: {', '.join(COLLECTORS)}")
        continue
    verbose("collecting " + section)
    facts[section] = collector()

print(json.dumps(facts, indent=2 if params["pretty"] else None, sort_keys=True))
