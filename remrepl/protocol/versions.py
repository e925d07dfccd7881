"""The versions a side of a session reports about itself (``Welcome.versions``, and the client's own).

Read from the installed distributions' metadata (``importlib.metadata``), never by importing them: the
server reports them in its Welcome at no cost to the handshake (they are read once, when it starts),
and the client compares them with its own (``remrepl.client.environment``).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

# What a server reports in its Welcome: what must agree between the client and the kernel for objects
# pickled by value (``%put`` of a lambda, ``session.put``) to load on the other side.
REPORTED = ("remrepl", "cloudpickle")

# name -> version, "" for a distribution that is not installed; "python" is the interpreter's (3.11.7)
Versions = dict[str, str]
VersionOf = Callable[[str], str]


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or "" when it is not installed."""
    from importlib import metadata  # here: it loads email and socket, which this sans-I/O package does not

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def installed_versions(names: Iterable[str] = REPORTED, version_of: VersionOf = distribution_version) -> Versions:
    """This interpreter's ``python`` and the versions of ``names`` (``version_of`` reads one: a test's own)."""
    return {"python": platform.python_version(), **{name: version_of(name) for name in names}}
