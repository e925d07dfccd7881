"""Launchers: start a server somewhere, hand it a key privately, read its ready line, stop it."""

from typing import Any

from .._exceptions import ConfigError
from .base import Launcher
from .local import LocalLauncher

__all__ = ["Launcher", "LocalLauncher", "launch"]


def launch(target: str = "local", *, start_timeout: float = 30.0, **options: Any) -> Launcher:
    """Start a server at ``target`` ("local": a child process of this machine) and return its launcher.

    with remrepl.launch() as server, server.connect() as session:
        session.run("x = 1")
    """
    if target != "local":
        raise ConfigError(f"unknown launch target {target!r}; this version launches only 'local'")
    launcher = LocalLauncher(**options)
    launcher.start(start_timeout)
    return launcher
