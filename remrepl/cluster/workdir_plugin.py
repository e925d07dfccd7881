"""The session's synced project directory on every worker: a Dask worker plugin, kept up to date.

When the head has a synced copy (``remrepl.workdir.active.current()``: after ``--workdir``/``%sync``, or
in a script ``exec`` runs from one), a cluster registers ``WorkdirPlugin`` before any task runs, and
again after each re-sync (``active.on_change``). Dask runs its ``setup`` on every worker, present and
future. A worker on the head's machine (or any that sees the same copy, checked by its manifest's
digest) works in the copy itself; elsewhere it unpacks the archive the plugin carries into its own
local directory, once per tree digest. Either way the worker's cwd is the tree and the tree is first on
``sys.path``, so tasks import the project's modules and open its data by relative paths, as the head
does; modules a task imported from an older tree are forgotten, so the next task imports the new code.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..workdir import active
from ..workdir.store import SyncedCopy

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("remrepl.cluster")
PLUGIN_NAME = "remrepl-workdir"
_entered: list[str] = []  # the tree this worker process works in (one at most)


def archive(copy: Path) -> tuple[str, bytes]:
    """(the manifest digest, a zip of its files) of the synced copy at ``copy``: only what the sync put
    there, intact (not the remote side's own results)."""
    synced = SyncedCopy.at(copy)
    intact = synced.intact()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for entry in intact.entries:
            info = zipfile.ZipInfo(entry.path)
            info.external_attr = (0o100000 | entry.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(copy / entry.path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    return intact.digest, buffer.getvalue()


class WorkdirPlugin(WorkerPlugin):
    """Put the tree ``digest`` (the head's copy ``path``; ``data``: its zip, None if every worker sees
    ``path``) on a worker, and work there."""

    idempotent = False  # a new tree replaces the old one on workers that have it

    def __init__(self, path: str, digest: str, data: bytes | None) -> None:
        self.path = path
        self.digest = digest
        self.data = data

    def setup(self, worker: Any) -> None:
        copy = Path(self.path)
        if copy.is_dir() and SyncedCopy.at(copy).matches(self.digest):
            enter(copy)
            return
        if self.data is None:
            raise RuntimeError(f"the head's workdir {self.path} is not on this worker, and no archive came")
        base = Path(worker.local_directory) / "remrepl-workdir"
        target = base / self.digest[:16]
        if not target.is_dir():
            base.mkdir(parents=True, exist_ok=True)
            part = Path(tempfile.mkdtemp(prefix=".part-", dir=base))
            try:
                with zipfile.ZipFile(io.BytesIO(self.data)) as zf:
                    for info in zf.infolist():
                        dest = part / info.filename  # names came from a checked manifest: relative, no ..
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(info) as src, open(dest, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                        os.chmod(dest, (info.external_attr >> 16) & 0o777 or 0o644)
                os.rename(part, target)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                if not target.is_dir():  # another worker of this host may have won the race
                    raise
        for old in base.iterdir():  # older trees of this worker directory
            if old.is_dir() and old != target and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        enter(target)


def enter(tree: Path) -> None:
    """Work in ``tree``: cwd, first on sys.path, and no module left from a tree entered before."""
    here = str(tree)
    for old in [*_entered, here]:  # the same path may hold new code (a copy synced in place)
        while old in sys.path:
            sys.path.remove(old)
        prefix = old.rstrip(os.sep) + os.sep
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and file.startswith(prefix):
                del sys.modules[name]
    _entered[:] = [here]
    sys.path.insert(0, here)
    os.chdir(here)
    importlib.invalidate_caches()
    from .mapping import _load_function

    _load_function.cache_clear()  # a map's function, by reference, would still be the old module's


class WorkdirFollower:
    """Keeps a cluster's workers on the head's synced tree: registers the plugin now (if there is a
    tree) and after each re-sync; ``close`` stops following."""

    def __init__(self, client: Client, *, shared: bool) -> None:
        self.client = client
        self.shared = shared  # every worker sees the head's file system (local workers): no archive
        self._unsubscribe: Callable[[], None] | None = active.on_change(self.send)
        copy = active.current()
        if copy is not None:
            self.send(copy)

    def send(self, copy: Path) -> None:
        if self.shared:
            digest, data = SyncedCopy.at(copy).intact().digest, None
        else:
            digest, data = archive(copy)
        log.info("sending the workdir %s (%s) to the workers", copy, digest[:12])
        self.client.register_plugin(WorkdirPlugin(str(copy), digest, data), name=PLUGIN_NAME)

    def close(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
