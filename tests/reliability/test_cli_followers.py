"""The CLI in front of hosts it does not trust, and followers that must always end.

Escapes: a host (local or over SSH) printing terminal control sequences cannot clear
the operator's screen, set the window title or overwrite lines: human output shows them
escaped, `--json` keeps the text exact.
"""

from __future__ import annotations

import json

import pytest

from tests.jobs.helpers import JobEnv, job_env, jobs_inventory  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(120)

# Clear screen, set the window title, a UTF-8 encoded C1 CSI (U+009B), backspaces over
# text and a carriage return that would overwrite the line, then a tab (kept).
PRINTF = r"printf '\033[2J\033]0;pwned\007\302\2331m back\010\010ZZ\rover\there\n'"
SENT = "\x1b[2J\x1b]0;pwned\x07\x9b1m back\x08\x08ZZ\rover\there"
SHOWN = r"\x1b[2J\x1b]0;pwned\x07\x9b1m back\x08\x08ZZ\x0dover" + "\there"


def assert_no_controls(text: str) -> None:
    """Nothing a terminal acts on, but the tab and the line ends."""
    found = {c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0}
    assert not found, f"control characters reached the terminal: {found!r}"


def test_exec_shows_a_local_and_an_ssh_hosts_escapes_escaped(job_env: JobEnv) -> None:  # noqa: F811
    ssh_host = job_env.fleet.hosts[0].name
    pattern = f"localhost,{ssh_host}"
    human = job_env.cli("exec", pattern, "--", PRINTF + "; " + PRINTF.replace("\\n'", "\\n' >&2"))
    assert human.returncode == 0, human.stderr
    assert_no_controls(human.stdout + human.stderr)
    lines = {tuple(line.split(maxsplit=2)) for line in human.stdout.splitlines()}
    for host in ("localhost", ssh_host):
        assert (host, "|", SHOWN) in lines
        assert (host, "!", SHOWN) in lines
    raw = job_env.cli("exec", pattern, "--json", "--", PRINTF)
    results = {r["host"]: r for r in json.loads(raw.stdout)}
    assert {h: r["stdout"] for h, r in results.items()} == {
        "localhost": SENT + "\n",
        ssh_host: SENT + "\n",
    }


ESCAPING = f"""#!/bin/sh
# /// runbook
# [parameters.note]
# type = "string"
# default = ""
# ///
{PRINTF}
{PRINTF} >&2
exit 3
"""


def test_attached_run_exec_and_jobs_show_escape_and_json_keeps_the_text(
    job_env: JobEnv,  # noqa: F811
) -> None:
    job_env.runbook("escaping.sh", ESCAPING)
    job_env.serve()
    ssh_host = job_env.fleet.hosts[1].name
    note = "\x1b]0;pwned\x07" + "x" * 5000
    ran = job_env.cli("run", "escaping", f"localhost,{ssh_host}", "-p", f"note={note}")
    assert ran.returncode == 1, ran.stderr
    assert_no_controls(ran.stdout + ran.stderr)
    out_lines = {tuple(line.split(maxsplit=2)) for line in ran.stdout.splitlines()}
    err_lines = {tuple(line.split(maxsplit=2)) for line in ran.stderr.splitlines()}
    for host in ("localhost", ssh_host):
        assert (host, "|", SHOWN) in out_lines
        assert (host, "!", SHOWN) in err_lines

    (job,) = job_env.cli_json("jobs", "list")
    shown = job_env.cli("jobs", "show", job["id"])
    assert_no_controls(shown.stdout)
    assert f"localhost ! {SHOWN}" in shown.stdout
    # The 5 KB parameter is cut to 200 characters and says how long it is.
    (note_line,) = [line for line in shown.stdout.splitlines() if "note =" in line]
    assert note_line == "    note = " + r"\x1b]0;pwned\x07" + "x" * 190 + "… (5010 bytes)"

    exact = job_env.cli_json("jobs", "show", job["id"])
    assert exact["parameters"]["note"] == note
    texts = {(r["host"], r["stream"]): r["text"] for r in exact["streams"]}
    assert texts[("localhost", "output")] == texts[(ssh_host, "error")] == SENT

    attached = job_env.cli("exec", ssh_host, "--", PRINTF)
    assert attached.returncode == 0, attached.stderr
    assert_no_controls(attached.stdout + attached.stderr)
    assert (ssh_host, "|", SHOWN) in {
        tuple(line.split(maxsplit=2)) for line in attached.stdout.splitlines()
    }
