"""The kernel's synced working directory, one value per process that other parts follow.

The kernel sets it when a sync lands (``set_current``); whatever must follow the tree (a running
cluster re-sending it to its workers) subscribes with ``on_change``. Processes the kernel starts see it
as ``$REMREPL_WORKDIR``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

ENV = "REMREPL_WORKDIR"
Listener = Callable[[Path], None]
_listeners: list[Listener] = []


def current() -> Path | None:
    """The synced working directory of this process (or of the kernel that started it); else the synced
    copy the working directory lies in (a script ``remrepl exec`` runs from one); else None."""
    value = os.environ.get(ENV)
    if value:
        return Path(value)
    from .store import copy_holding

    try:
        return copy_holding(Path.cwd())
    except OSError:  # no working directory any more
        return None


def set_current(path: Path) -> None:
    """Record ``path`` as the synced working directory and tell every listener (in subscription order)."""
    os.environ[ENV] = str(path)
    for listener in list(_listeners):
        listener(path)


def on_change(listener: Listener) -> Callable[[], None]:
    """Call ``listener(path)`` after each ``set_current``; returns the function that unsubscribes it."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe
