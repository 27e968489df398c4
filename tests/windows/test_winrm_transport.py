"""The WinRM transport against the WS-Management test server (a stand-in for a Windows
host: commands run with /bin/sh there), over HTTP and HTTPS, NTLM and Basic."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.assets.vault import AssetVault
from console.errors import (
    AuthenticationFailed,
    Cancelled,
    CertificateRejected,
    HostConfigError,
    TimedOut,
    Unreachable,
)
from console.inventory.model import Host
from console.store import Store
from console.transports.base import StreamName
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.transports.winrm import WinRMTransport
from console.transports.winrm_scripts import powershell_command
from tests.windows.conftest import PASSWORD, USER, win_host, winrm_vars
from tests.windows.wsman_server import WSManServer

pytestmark = pytest.mark.timeout(120)


@dataclass
class Target:
    server: WSManServer
    host: Host

    @property
    def root(self) -> Path:
        return self.server.root


@pytest.fixture(params=["http-ntlm", "http-basic", "https-ntlm", "https-basic"])
def target(
    request: pytest.FixtureRequest,
    http_server: WSManServer,
    https_server: WSManServer,
    tls_files: tuple[Path, Path],
) -> Target:
    scheme, auth = request.param.split("-")
    server = https_server if scheme == "https" else http_server
    return Target(server, win_host(server, tls_files, ansible_winrm_transport=auth))


class Lines:
    """What a run delivered through `on_line`, in order."""

    def __init__(self) -> None:
        self.got: list[tuple[StreamName, bytes]] = []

    def __call__(self, stream: StreamName, line: bytes) -> None:
        self.got.append((stream, line))

    def of(self, stream: StreamName) -> list[str]:
        return [line.decode().rstrip("\r\n") for s, line in self.got if s == stream]


def gone(pid_file: Path) -> bool:
    """True when the process whose pid the command wrote no longer exists."""
    return not Path(f"/proc/{pid_file.read_text().strip()}").exists()


async def test_output_streams_environment_and_exit_code(
    target: Target, pool: TransportPool
) -> None:
    lines = Lines()
    transport = transport_for(target.host, pool)
    assert isinstance(transport, WinRMTransport)
    status = await transport.run(
        'echo "out $GREETING"; echo "err line" >&2; exit 7',
        env={"GREETING": "hello from the shell environment"},
        on_line=lines,
    )
    assert status.code == 7
    assert lines.of("stdout") == ["out hello from the shell environment"]
    assert lines.of("stderr") == ["err line"]
    assert not any("hello from" in c for c in target.server.stats.commands)  # env not on a line


async def test_powershell_errors_arrive_as_text_not_clixml(
    target: Target, pool: TransportPool
) -> None:
    lines = Lines()
    script = (
        "Write-Output 'first'\nWrite-Error 'it broke: <bad> & _x'\nWrite-Warning 'careful'\nexit 3"
    )
    status = await transport_for(target.host, pool).run(powershell_command(script), on_line=lines)
    assert status.code == 3
    assert lines.of("stdout") == ["first", "::warning::careful"]
    assert lines.of("stderr") == ["it broke: <bad> & _x"]


async def test_lines_arrive_while_the_command_still_runs(
    http_server: WSManServer, tls_files: tuple[Path, Path], pool: TransportPool
) -> None:
    go = http_server.root / "go"
    seen: list[str] = []

    def on_line(stream: StreamName, line: bytes) -> None:
        seen.append(line.decode().strip())
        go.touch()  # the command ends only once its first line was delivered

    command = "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second"
    status = await transport_for(win_host(http_server, tls_files), pool).run(
        command, on_line=on_line, timeout=60
    )
    assert status.ok and seen == ["first", "second"]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_five_megabytes_of_output_arrive_whole(
    scheme: str,
    http_server: WSManServer,
    https_server: WSManServer,
    tls_files: tuple[Path, Path],
    pool: TransportPool,
) -> None:
    server = https_server if scheme == "https" else http_server
    lines = Lines()
    command = "i=0; while [ $i -lt 50000 ]; do printf '%099d\\n' $i; i=$((i+1)); done"
    status = await transport_for(win_host(server, tls_files), pool).run(command, on_line=lines)
    out = lines.of("stdout")
    assert status.ok and len(out) == 50000
    assert out[0] == "0" * 99 and out[-1] == f"{49999:099d}"
    assert sum(len(line) + 1 for line in out) == 5_000_000


async def test_stdin_reaches_the_command(http_server: WSManServer, pool: TransportPool) -> None:
    lines = Lines()
    transport = transport_for(win_host(http_server, None), pool)
    status = await transport.run("tr a-z A-Z", stdin=b"shout this\n", on_line=lines)
    assert status.ok and lines.of("stdout") == ["SHOUT THIS"]


async def test_a_timeout_stops_the_command_on_the_host(target: Target, pool: TransportPool) -> None:
    pid = target.root / "pid"
    transport = transport_for(target.host, pool)
    with pytest.raises(TimedOut, match="still running after 3 s; it was stopped"):
        await transport.run("echo $$ > pid; exec sleep 60", timeout=3)
    assert gone(pid)
    assert "terminate" in target.server.stats.signals


async def test_a_cancel_stops_the_command_on_the_host(
    https_server: WSManServer, tls_files: tuple[Path, Path], pool: TransportPool
) -> None:
    started = asyncio.Event()
    transport = transport_for(win_host(https_server, tls_files), pool)
    run = asyncio.ensure_future(
        transport.run(
            "echo $$ > pid; echo started; exec sleep 60", on_line=lambda s, ln: started.set()
        )
    )
    await started.wait()
    run.cancel()
    with pytest.raises(Cancelled, match="stopped on the host"):
        await run
    assert gone(https_server.root / "pid")


async def test_a_dropped_connection_is_unreachable_and_the_command_stopped(
    http_server: WSManServer, pool: TransportPool
) -> None:
    def drop_next_receive(stream: StreamName, line: bytes) -> None:
        http_server.knobs.drop_receives = 1  # the command runs and wrote its pid

    transport = transport_for(win_host(http_server, None), pool)
    with pytest.raises(Unreachable, match="connection lost while the command ran"):
        await transport.run("echo $$ > pid; echo started; exec sleep 60", on_line=drop_next_receive)
    assert gone(http_server.root / "pid")


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
async def test_a_wrong_password_is_an_authentication_failure(
    auth: str, http_server: WSManServer, pool: TransportPool
) -> None:
    host = win_host(http_server, None, ansible_winrm_transport=auth, ansible_password="wrong")
    with pytest.raises(AuthenticationFailed, match=f"refused the login of 'opsadmin' \\({auth}"):
        await transport_for(host, pool).run("echo never")
    assert http_server.stats.commands == []


async def test_an_unknown_ca_is_a_certificate_rejection_naming_the_fixes(
    https_server: WSManServer, pool: TransportPool
) -> None:
    host = win_host(https_server, None)  # no CA given: the system's CAs do not know it
    with pytest.raises(
        CertificateRejected, match=r"ansible_winrm_ca_trust_path.*validation: ignore"
    ):
        await transport_for(host, pool).run("echo never")
    assert https_server.stats.commands == []


async def test_validation_ignore_is_an_explicit_opt_out(
    https_server: WSManServer, pool: TransportPool
) -> None:
    host = win_host(https_server, None, ansible_winrm_server_cert_validation="ignore")
    assert (await transport_for(host, pool).run("true")).ok


async def test_a_closed_port_is_unreachable(http_server: WSManServer, pool: TransportPool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = win_host(http_server, None, ansible_port=port)
    with pytest.raises(Unreachable, match=f"cannot connect to http://127.0.0.1:{port}/wsman"):
        await transport_for(host, pool).run("echo never")


async def test_a_host_that_stops_answering_is_unreachable_after_the_read_timeout(
    http_server: WSManServer, pool: TransportPool
) -> None:
    http_server.knobs.stall = 5
    host = win_host(
        http_server,
        None,
        ansible_winrm_read_timeout_sec=2,
        ansible_winrm_operation_timeout_sec=1,
    )
    with pytest.raises(Unreachable, match=r"no answer from .* within 2 s"):
        await transport_for(host, pool).run("echo never")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ansible_winrm_transport", "digest", "unknown ansible_winrm_transport 'digest'; use ntlm"),
        ("ansible_winrm_scheme", "ftp", "ansible_winrm_scheme must be http or https"),
        ("ansible_winrm_server_cert_validation", "maybe", "must be validate or ignore"),
        ("ansible_winrm_read_timeout_sec", "5", r"must exceed .*operation_timeout_sec \(20\)"),
        ("ansible_password", None, "WinRM needs a login"),
    ],
)
async def test_bad_settings_are_config_errors_naming_the_variable(
    variable: str, value: str | None, message: str, http_server: WSManServer, pool: TransportPool
) -> None:
    values = winrm_vars(http_server, None, **{variable: value})
    host = Host("win1", {k: v for k, v in values.items() if v is not None})
    with pytest.raises(HostConfigError, match=message):
        await transport_for(host, pool).run("echo never")
    assert http_server.stats.shells_created == 0


def test_an_unknown_connection_names_the_supported_ones(pool: TransportPool) -> None:
    with pytest.raises(
        HostConfigError, match="unknown ansible_connection 'psrp'; use ssh, local or winrm"
    ):
        transport_for(Host("w", {"ansible_connection": "psrp"}), pool)


def test_ports_follow_the_scheme_as_in_ansible() -> None:
    https = Host("a", {"ansible_connection": "winrm"})
    http = Host("b", {"ansible_connection": "winrm", "ansible_winrm_scheme": "http"})
    by_port = Host("c", {"ansible_connection": "winrm", "ansible_port": 5985})
    assert (https.port, https.winrm_scheme) == (5986, "https")
    assert (http.port, by_port.winrm_scheme) == (5985, "http")


async def test_workdir_upload_in_chunks_and_removal(target: Target, pool: TransportPool) -> None:
    transport = transport_for(target.host, pool)
    workdir = await transport.make_workdir()
    assert workdir.startswith("C:\\Users\\opsadmin\\AppData\\Local\\Temp\\opsconsole.")
    folder = target.server.paths.local(workdir)
    assert folder.is_dir()
    data = os.urandom(40_000)
    await transport.upload(data, f"{workdir}/payload.bin")
    assert (folder / "payload.bin").read_bytes() == data
    assert not list(folder.glob("*.opsconsole-tmp"))
    chunks = [c for c in target.server.stats.commands if c.startswith("powershell")]
    assert len(chunks) > 10  # 40 KB cannot go in one 8 KB command line
    assert all(len(c) <= 8191 for c in chunks)
    await transport.remove_workdir(workdir)
    assert not folder.exists()


async def test_fifty_windows_hosts_at_once_leave_the_event_loop_free(
    server_process: int, http_server: WSManServer, pool: TransportPool
) -> None:
    """Every WinRM call runs in the helper process: a ticker on the loop keeps ticking.
    (The test server runs in its own process, as a Windows host would be another
    machine.)"""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - before - 0.01)

    hosts = [
        win_host(http_server, None, name=f"win{i:02}", ansible_port=server_process)
        for i in range(50)
    ]
    ticking = asyncio.ensure_future(ticker())
    results: list[Lines] = [Lines() for _ in hosts]
    statuses = await asyncio.gather(
        *(
            transport_for(h, pool).run(f"echo {h.name}; sleep 0.3", on_line=lines)
            for h, lines in zip(hosts, results, strict=True)
        )
    )
    stop.set()
    await ticking
    assert all(s.ok for s in statuses)
    assert [r.of("stdout") for r in results] == [[h.name] for h in hosts]
    assert max(gaps) < 0.5, f"the event loop was blocked for {max(gaps):.3f} s"


async def test_a_credential_asset_logs_in_instead_of_an_inventory_password(
    http_server: WSManServer, tmp_path: Path
) -> None:
    store = Store(tmp_path / "data")
    try:
        vault = AssetVault(store, tmp_path / "data", environ={})
        await vault.set_credential("windows-admin", USER, password=PASSWORD)
        await vault.set_credential("wrong-admin", USER, password="not it")
        pool = TransportPool(ssh_config=[], assets=vault)
        base = dict(win_host(http_server, None).vars)
        del base["ansible_password"], base["ansible_user"]
        good = Host("win1", {**base, "console_credential": "windows-admin"})
        lines = Lines()
        assert (await transport_for(good, pool).run("echo in", on_line=lines)).ok
        assert lines.of("stdout") == ["in"]
        bad = Host("win1", {**base, "console_credential": "wrong-admin"})
        with pytest.raises(AuthenticationFailed):
            await transport_for(bad, pool).run("echo never")
        missing = Host("win1", {**base, "console_credential": "nobody"})
        with pytest.raises(HostConfigError, match="no such asset"):
            await transport_for(missing, pool).run("echo never")
    finally:
        store.close()


async def test_a_shell_opened_after_the_run_gave_up_is_deleted(
    http_server: WSManServer, pool: TransportPool
) -> None:
    http_server.knobs.stall = 2  # the Create is answered after the run's time limit
    host = win_host(http_server, None, ansible_winrm_transport="basic")
    with pytest.raises(TimedOut, match="no answer after 1 s"):
        await transport_for(host, pool).run("echo never", timeout=1)
    stats = http_server.stats
    deadline = asyncio.get_running_loop().time() + 30
    while not (stats.shells_created == 1 and stats.shells_deleted == 1):
        assert asyncio.get_running_loop().time() < deadline, stats
        await asyncio.sleep(0.05)
    assert stats.commands == []
