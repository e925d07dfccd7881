"""Installing the project's packages on the server before the code runs (``--pip``, ``--requirements``,
and what a synced tree declares): ``install_packages``.

It runs ``remrepl.server.kernel.project_install.install`` as a short script in a one-off interpreter
like the session's (the same python, so the same site-packages), on a script connection: an attached
``remote>`` session is not touched, and ``exec`` and ``connect`` share one path. The installer's output
streams to ``output`` as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..protocol import Stream
from .script import start_script
from .session import Session

SCRIPT_NAME = "remrepl-install-packages.py"


@dataclass(frozen=True)
class PackageRequest:
    """What to install: ``specs`` (``--pip``), requirements ``files`` (``--requirements``, paths in the
    tree), ``index_url``, ``find_links``; ``detect``: also what the tree declares; ``tree``: the synced
    copy's path on the server (None: no tree)."""

    tree: str | None = None
    specs: Sequence[str] = ()
    files: Sequence[str] = ()
    index_url: str | None = None
    find_links: Sequence[str] = ()
    detect: bool = True

    @property
    def anything(self) -> bool:
        return bool(self.specs or self.files or (self.detect and self.tree))

    def code(self) -> str:
        call = (
            f"install({self.tree!r}, {list(self.specs)!r}, {list(self.files)!r}, {self.index_url!r}, "
            f"{list(self.find_links)!r}, detect={self.detect!r})"
        )
        return f"from remrepl.server.kernel.project_install import install\n{call}\n"


def install_packages(session: Session, request: PackageRequest, output: Callable[[str], None]) -> bool:
    """Install what ``request`` asks on the server of ``session``; True if it worked (or had nothing to
    do). The installer's messages (and its error) went to ``output``."""
    if not request.anything:
        return True
    if not session.script:
        with session.script_connection() as runner:
            return install_packages(runner, request, output)
    execution = start_script(session, SCRIPT_NAME, request.code())
    for event in execution.events():
        if isinstance(event, Stream) and event.req_id == execution.req_id:
            output(event.data.decode("utf-8", "replace"))
    assert execution.done is not None
    return execution.done.exit_code == 0 and execution.done.status in ("ok", "exit")
