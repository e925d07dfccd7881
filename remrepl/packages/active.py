"""The packages installed into this process's interpreter while it runs, as events that others follow.

The kernel calls ``installed(requirements)`` after a successful ``%pip install``; whatever must install
the same elsewhere (a running cluster, on its workers) subscribes with ``on_install``.
"""

from __future__ import annotations

from collections.abc import Callable

from .install import Requirements

Listener = Callable[[Requirements], None]
_listeners: list[Listener] = []


def installed(requirements: Requirements) -> None:
    """Tell every listener (in subscription order) that ``requirements`` were installed here."""
    for listener in list(_listeners):
        listener(requirements)


def on_install(listener: Listener) -> Callable[[], None]:
    """Call ``listener(requirements)`` after each ``installed``; returns the function that unsubscribes it."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe
