"""The kernel's side of a workdir sync: move into the synced copy (``remrepl.cli.workdir.enter`` calls it).

The first sync makes the copy the kernel's current directory; a later one (``%sync``) leaves a cwd the
user changed alone. Either way the copy is on ``sys.path`` right after the cwd's own entry, so the
project's modules import from anywhere, and ``remrepl.workdir.active`` tells whoever follows the tree (a
running cluster re-sending it to its workers).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from ...workdir import active


def enter(path: str) -> None:
    target = os.path.realpath(path)
    previous = active.current()
    here = os.path.realpath(os.getcwd())
    if previous is None or here == os.path.realpath(previous):
        os.chdir(target)
    if previous is not None and str(previous) in sys.path:
        sys.path.remove(str(previous))
    if target not in sys.path:
        sys.path.insert(1 if sys.path and sys.path[0] in ("", ".") else 0, target)
    importlib.invalidate_caches()  # files that arrived since the last import
    active.set_current(Path(target))
