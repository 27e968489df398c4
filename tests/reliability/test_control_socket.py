"""The control socket is the engine's whole API (start jobs, read streams, stop jobs):
only the operator who owns the data directory may reach it. A real `serve` started
with umask 000, so nothing but the engine's own choice of modes protects them."""

from __future__ import annotations

import stat

from console.store.lock import socket_path
from tests.serve.conftest import Site

PERMISSIVE_UMASK = ("sh", "-c", 'umask 000 && exec "$0" "$@"')


def test_socket_is_0600_and_data_directory_0700_under_a_permissive_umask(site: Site) -> None:
    serve = site.serve(prefix=PERMISSIVE_UMASK)
    sock = socket_path(site.data_dir)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(site.data_dir.stat().st_mode) == 0o700
    # The socket is the one clients use: a command attaches through it.
    assert site.cli_json("jobs", "list") == []
    assert serve.stop() == 0
    assert not sock.exists()


def test_an_existing_data_directory_open_to_others_is_made_private(site: Site) -> None:
    """A data directory made beforehand with 0755 (by hand, or by a package's install
    script) would let any local user read job parameters; the engine tightens it."""
    site.data_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    site.data_dir.chmod(0o755)
    serve = site.serve()
    assert stat.S_IMODE(site.data_dir.stat().st_mode) == 0o700
    assert serve.stop() == 0
    assert "made it 0700" in serve.text()
