"""The project's packages, and each ``%pip install``, on every worker: a Dask worker plugin.

A cluster started on a head that installed a synced project's packages (``remrepl.packages.project``
keeps them beside the copy) registers ``PackagesPlugin`` before any task, after the workdir's plugin
(so relative paths, a ``--find-links wheels/`` inside the tree, are the worker's copy of the tree); a
``%pip install`` in the session while it runs registers one more (``packages.active.on_install``). Each
worker installs into its own interpreter with the same installer and stamp as the head, so a worker
host that has them already installs nothing. A worker whose install fails makes the registration raise
``ClusterError`` naming that worker and the installer's reason; a cluster that cannot start is closed.

Workers on the head's machine (local) share its interpreter: nothing is sent to them.
"""

from __future__ import annotations

import itertools
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

from .._exceptions import ClusterError, PackageInstallError
from .._files import state_dir
from ..packages import active as installs
from ..packages import project
from ..packages.install import Requirements, install
from ..workdir import active as workdirs

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("remrepl.cluster")
PLUGIN_NAME = "remrepl-packages"


class PackagesPlugin(WorkerPlugin):
    """Install ``record`` (``project.to_record``'s form; relative paths: the worker's tree, its cwd)."""

    idempotent = False

    def __init__(self, record: dict[str, Any], what: str) -> None:
        self.record = record
        self.what = what

    def setup(self, worker: Any) -> None:
        requirements = project.within(self.record, Path.cwd())
        try:
            result = install(sys.executable, requirements, stamp_dir=state_dir("packages"), output=log.debug)
        except PackageInstallError as exc:
            where = f"worker {worker.name} on {socket.gethostname()}"
            raise RuntimeError(f"{where}: installing the packages of {self.what} failed: {exc}") from None
        log.info(
            "packages of %s on worker %s: %s", self.what, worker.name, "unchanged" if result.skipped else "installed"
        )


class PackagesFollower:
    """Keeps a cluster's workers' packages like the head's: the project's now, each %pip install later."""

    def __init__(self, client: Client, *, shared: bool) -> None:
        self.client = client
        self._count = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None
        if shared:  # the head's own interpreter: whatever it installs, they have
            return
        self._unsubscribe = installs.on_install(self._pip_installed)
        copy = workdirs.current()
        record = project.load(copy) if copy is not None else None
        if record is not None:
            self.send(record, str(record.get("source") or "the project"), PLUGIN_NAME)

    def _pip_installed(self, requirements: Requirements) -> None:
        self.send(
            project.to_record(requirements, workdirs.current()), "%pip install", f"{PLUGIN_NAME}-{next(self._count)}"
        )

    def send(self, record: dict[str, Any], what: str, name: str) -> None:
        log.info("installing the packages of %s on the workers", what)
        try:
            self.client.register_plugin(PackagesPlugin(record, what), name=name)
        except RuntimeError as exc:
            raise ClusterError(str(exc)) from None

    def close(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
