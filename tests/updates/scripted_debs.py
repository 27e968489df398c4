"""Tiny real .debs whose maintainer scripts do something, for the deployment tests:
a postinst that fails, that waits for the host's clock, that asks for a reboot; a
package that depends on a newer version of another."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fleet import FleetHost
from tests.state.conftest import publish


def build_deb(
    directory: Path,
    name: str,
    version: str,
    postinst: str | None = None,
    depends: str | None = None,
) -> Path:
    """A .deb (dpkg-deb) of `name` at `version`; `postinst` is the body of its
    post-installation script (sh), if any; `depends` its Depends field."""
    root = directory / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / name).mkdir(parents=True)
    (root / "usr" / "share" / name / "version").write_text(f"{version}\n")
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: opsconsole tests <tests@example.invalid>\nDescription: test package\n"
        + (f"Depends: {depends}\n" if depends else "")
    )
    if postinst is not None:
        script = root / "DEBIAN" / "postinst"
        script.write_text(f"#!/bin/sh\n{postinst}\n")
        script.chmod(0o755)
    deb = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb], check=True,
                   capture_output=True)  # fmt: skip
    return deb


def installed_version(host: FleetHost, name: str) -> str:
    """The version dpkg has of `name` on the host ("" when not installed)."""
    return host.run(f"dpkg-query -W -f='${{Version}}' {name}").stdout


def install_then_offer(
    host: FleetHost, directory: Path, names: list[str], new: dict[str, Path] | None = None
) -> None:
    """Install 1.0 of every package in `names` on the host, then publish 1.1 of each
    (or the .deb `new` gives for it) so that an update is pending for all of them."""
    publish(host, *(build_deb(directory, name, "1.0") for name in names))
    host.run(f"apt-get install -y -q {' '.join(names)}", check=True, timeout=120)
    offered = new or {}
    publish(host, *(offered.get(name) or build_deb(directory, name, "1.1") for name in names))
