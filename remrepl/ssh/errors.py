"""The one place where paramiko's and the socket's errors become remrepl's.

    with ssh_errors(f"cannot open an SSH channel on {link}"):
        channel = link.transport.open_session(timeout=15.0)

raises ``SSHError("cannot open an SSH channel on me@host:22: <reason>")`` for a foreign SSH or socket
failure; remrepl's own errors pass through unchanged, and so does anything else (a bug must not be
disguised as a network failure). A refused login becomes ``SSHAuthenticationFailed``, a rejected host key
``HostKeyError``, whatever the site asked for otherwise. paramiko is not imported here: it is loaded by
whoever raised its exception, so a process that never uses SSH never pays for it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from types import TracebackType

from .._exceptions import HostKeyError, RemreplError, SSHAuthenticationFailed, SSHError

MakeError = Callable[[str], RemreplError]  # an exception class of the tree, or anything that builds one


def is_ssh_failure(exc: BaseException) -> bool:
    """Is ``exc`` a failure of the SSH link or its socket (not a remrepl error, not a bug)?"""
    if isinstance(exc, RemreplError):
        return False
    if isinstance(exc, (OSError, EOFError)):  # sockets, channels ("Socket is closed"), a cut transport
        return True
    paramiko = sys.modules.get("paramiko")
    return paramiko is not None and isinstance(exc, paramiko.SSHException)


def reason(exc: BaseException, timeout: float | None = None) -> str:
    """A readable account of an SSH or socket failure: the OS's words, not ``[Errno 111] ...``."""
    if isinstance(exc, TimeoutError) and (timeout is not None or not str(exc)):
        return f"no answer within {timeout:g} s" if timeout is not None else "no answer in time"
    if isinstance(exc, socket.gaierror):
        return f"the name does not resolve ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def translate(
    exc: BaseException, doing: str, error: MakeError = SSHError, timeout: float | None = None
) -> RemreplError:
    """The remrepl error for the SSH failure ``exc`` (see ``is_ssh_failure``) met while ``doing``."""
    paramiko = sys.modules.get("paramiko")
    message = f"{doing}: {reason(exc, timeout)}"
    if paramiko is not None and isinstance(exc, paramiko.AuthenticationException):
        return SSHAuthenticationFailed(message)
    if paramiko is not None and isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyError(message)
    return error(message)


class _Mapper:
    """The context manager ``ssh_errors`` returns (a class, not ``@contextmanager``: its ``__exit__``
    never swallows, and type checkers can see that)."""

    def __init__(self, doing: str, error: MakeError, timeout: float | None) -> None:
        self.doing, self.error, self.timeout = doing, error, timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, Exception) and is_ssh_failure(exc):
            raise translate(exc, self.doing, self.error, self.timeout) from None


def ssh_errors(doing: str, error: MakeError = SSHError, *, timeout: float | None = None) -> _Mapper:
    """Raise SSH and socket failures inside as ``error(f"{doing}: {reason}")`` (see the module doc);
    ``timeout``: the deadline the operation had, to say so when it passed."""
    return _Mapper(doing, error, timeout)
