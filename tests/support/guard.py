"""The suite's process-wide guards, installed before any test code runs (the plugin imports this first).

- The socket guard (``tests/_netguard``): Python code may reach only loopback. This process installs it
  here; every Python process the tests start loads it through ``tests/_netguard/sitecustomize.py``, since
  that folder goes on ``PYTHONPATH``. ``netguard`` is a top-level module on purpose: a child's
  ``sitecustomize`` finds it on ``PYTHONPATH`` before any package is importable, so this process puts the
  same folder on ``sys.path`` and imports it by the same name (``tests/test_netguard.py`` catches its
  ``NetworkGuardError``).
- The reaper never powers the machine off in a process the tests start (the suite may run as root).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GUARD_DIR = Path(__file__).resolve().parents[1] / "_netguard"
REAPER_GUARD = {"REMREPL_REAPER_FORBID_SHUTDOWN": "1"}


def install() -> None:
    """Guard this process and, through the environment, every process it starts. Idempotent."""
    if str(GUARD_DIR) not in sys.path:
        sys.path.insert(0, str(GUARD_DIR))
    import netguard

    netguard.install()
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(GUARD_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), *paths]))
    os.environ.update(REAPER_GUARD)
