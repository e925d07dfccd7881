"""The one place where paramiko's and the socket's errors become remrepl's.

    with ssh_errors(f"cannot open an SSH channel on {link}"):
        channel = link.transport.open_session(timeout=15.0)

raises ``SSHError("cannot open an SSH channel on me@host:22: <reason>")`` for a foreign SSH or socket
failure; remrepl's own errors pass through unchanged, and so does anything else (a bug must not be
disguised as a network failure). A refused login becomes ``SSHAuthenticationFailed``, a rejected host key
``HostKeyError``, whatever the site asked for otherwise. ``sftp_errors`` does the same around opening an
SFTP session, and tells a server without an SFTP subsystem (``SFTPUnavailable``) from a failed link.
paramiko is not imported here: it is loaded by whoever raised its exception, so a process that never uses
SSH never pays for it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._exceptions import HostKeyError, RemreplError, SFTPUnavailable, SSHAuthenticationFailed, SSHError

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


def subsystem_refused(exc: BaseException, transport: Any) -> bool:
    """Did the server refuse a subsystem request (``exc`` from ``invoke_subsystem``) on a link still up?

    paramiko says only "Channel closed." both when the server answers a subsystem request with failure
    (OpenSSH logs "subsystem request for sftp ... failed, subsystem not found") and when the link drops;
    a refusal leaves the transport active with no error of its own, a dropped link does not."""
    paramiko = sys.modules.get("paramiko")
    if paramiko is None or not isinstance(exc, paramiko.SSHException) or isinstance(exc, paramiko.ChannelException):
        return False
    return str(exc) == "Channel closed." and bool(transport.is_active())


class _SFTPMapper(_Mapper):
    def __init__(self, host: str, transport: Any, needed_for: str, error: MakeError) -> None:
        super().__init__(f"{host} refused an SFTP session", error, None)
        self.host, self.transport, self.needed_for = host, transport, needed_for

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, Exception) and subsystem_refused(exc, self.transport):
            raise SFTPUnavailable(
                f"{self.host}'s SSH server offers no SFTP subsystem (needed {self.needed_for}); "
                'enable "Subsystem sftp" in its sshd_config'
            ) from None
        super().__exit__(et, exc, tb)


def sftp_errors(host: str, transport: Any, needed_for: str, error: MakeError = SSHError) -> _Mapper:
    """Around opening an SFTP session on ``transport`` (paramiko's): a server that offers no SFTP subsystem
    raises ``SFTPUnavailable`` naming ``host`` and what SFTP was ``needed_for`` ("to copy remrepl's
    files"); any other SSH failure ``error(f"{host} refused an SFTP session: {reason}")``."""
    return _SFTPMapper(host, transport, needed_for, error)
