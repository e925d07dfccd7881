"""Launchers: start a server somewhere, hand it a key privately, read its ready line, stop it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Launcher
    from .local import LocalLauncher
    from .ssh.launcher import SSHLauncher

__all__ = ["Launcher", "LocalLauncher", "SSHLauncher", "launch"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the SSH keeper (remrepl.launchers.ssh.keeper) runs on a host with only the
    # standard library in its imports, and paramiko loads only when SSH is used.
    if name == "Launcher":
        from .base import Launcher

        return Launcher
    if name == "LocalLauncher":
        from .local import LocalLauncher

        return LocalLauncher
    if name == "SSHLauncher":
        from .ssh.launcher import SSHLauncher

        return SSHLauncher
    raise AttributeError(name)


def launch(
    target: str = "local",
    *,
    start_timeout: float = 30.0,
    workdir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Launcher:
    """Start a server at ``target`` and return its launcher: "local" (a child process of this machine) or
    "ssh://[USER@]HOST[:PORT]" (any host your ssh_config knows; options as ``SSHLauncher``'s), or
    "ec2[:NAME]" (an EC2 head node, made or found by tag; options as ``EC2Launcher``'s). ``workdir``: a
    local project directory that each ``connect()`` syncs to the server first (``Session.sync_workdir``).

    with remrepl.launch() as server, server.connect() as session:
        session.run("x = 1")
    """
    from .registry import for_target

    launcher = for_target(target).launcher(target, options)
    if workdir is not None:
        launcher.workdir = Path(workdir).expanduser().resolve()
    launcher.start(start_timeout)
    return launcher
