"""One small interface for "a server somewhere": start it, wait for it, close it.

Every launcher hands the server a fresh client key over a private channel (a pipe to its stdin here; the
SSH channel for remote hosts) and reads back one JSON ready line, so the server's public key arrives
over a channel we already trust. Whatever a launcher created is released when a later step fails.
"""

from __future__ import annotations

import abc
from pathlib import Path
from types import TracebackType

from ..client.session import InputHandler, Session, terminal_input
from ..transport.connection_info import ConnectionInfo


class Launcher(abc.ABC):
    """A server process somewhere. ``start`` returns how to reach it; ``close`` stops it."""

    #: a short name for history files and session records, e.g. "local"
    target = "server"
    info: ConnectionInfo | None = None
    #: a local project directory each ``connect`` syncs to the server (``launch(..., workdir=)``)
    workdir: Path | None = None

    @abc.abstractmethod
    def start(self, timeout: float = 30.0) -> ConnectionInfo:
        """Start the server and wait (at most ``timeout`` s) for its ready line."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the server if it still runs. Idempotent."""

    @abc.abstractmethod
    def detach(self) -> None:
        """Leave the server running on its own (``--keep``): ``close`` will no longer stop it."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the server to end; its exit status, or None if it still runs after ``timeout``."""

    def record_data(self) -> dict[str, str]:
        """What ``remrepl connect NAME`` needs, besides the connection information, to reach this server
        again (kept in the session record's ``launcher.data``): nothing for a local server; an SSH
        launcher's host alias and remote port, to rebuild its tunnel."""
        return {}

    def connect(
        self, *, connect_timeout: float = 10.0, input_handler: InputHandler = terminal_input, script: bool = False
    ) -> Session:
        """A session on the started server (``script``: a script connection, which does not attach); with a
        ``workdir``, synced first (the session's interpreter works there: ``Session.sync_workdir``)."""
        from ..client.session import connect

        if self.info is None:
            raise RuntimeError("start() the launcher first")
        session = connect(info=self.info, connect_timeout=connect_timeout, input_handler=input_handler, script=script)
        if self.workdir is not None:
            try:
                session.sync_workdir(self.workdir)
            except BaseException:
                session.close()
                raise
        return session

    def __enter__(self) -> Launcher:
        if self.info is None:
            self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
