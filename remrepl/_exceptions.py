"""The one exception tree of remrepl.

Foreign exceptions (zmq, OSError from pipes and files, later paramiko and botocore) are translated at the
boundary into these, so a caller needs to catch only ``RemreplError``::

    RemreplError
    ├── ProtocolError                 a message broke the protocol
    │   ├── LocalProtocolError        ...we were about to send it (a bug on our side)
    │   └── RemoteProtocolError       ...the peer sent it (garbage, wrong order, unknown type)
    │       └── VersionMismatch       the peer speaks another protocol version
    ├── ConnectError                  no session could be established
    │   ├── AuthenticationFailed      the server refused our key (wrong password)
    │   ├── TooManyAttempts           the server refuses attempts from this address for now (brute force)
    │   └── ConnectTimeout            nothing answered within the deadline (also a RemreplTimeout)
    ├── ConnectionLost                an established session's link went away
    │   └── ServerGone                ...and came back, but the server is gone: retrying will not help
    ├── SessionClosed                 the session was closed (by us, or the server shut down)
    ├── RemreplTimeout                a deadline passed (also the builtin TimeoutError)
    │   ├── ConnectTimeout            (above)
    │   └── ExecutionTimeout          a run did not finish within the caller's deadline
    ├── ServerError                   the server refused a request (busy, bad request)
    ├── ObjectError                   Session.get/put: no such name, or the object does not pickle
    ├── TransferError                 a file transfer failed; nothing was left at its target
    │   └── NoSuchPath                ...its source does not exist (the local one, or the remote one)
    ├── WorkdirError                  the project directory cannot be synced (an unreadable file, ...)
    │   └── WorkdirTooLarge           ...it holds more bytes or files than the limits allow
    ├── PackageInstallError           installing the user's packages failed (the installer's last lines)
    ├── LaunchError                   a launcher could not start a server
    │   ├── SSHError                  the SSH connection to the host failed
    │   │   ├── HostKeyError          the host's key is unknown or changed (known_hosts)
    │   │   ├── SSHAuthenticationFailed  the host refused our user or keys
    │   │   └── HostUnreachable       nothing answered at the address within the deadline
    │   ├── RemoteEnvironmentError    the remote lacks Python 3 or remrepl, or speaks another version
    │   │   └── SFTPUnavailable       the host's SSH server offers no SFTP subsystem (files cannot be copied)
    │   └── ReadinessError            an EC2 head did not get ready: ``.stage`` names the stage that failed
    ├── ClusterError                  a worker pool could not start or was used after close()
    │   └── TaskError                 a function run on the cluster raised (names the item)
    ├── CloudError                    an AWS call failed (names the operation and AWS's error code)
    │   ├── CloudCredentialsError     no (or expired) AWS credentials or region
    │   └── CapacityError             AWS has no capacity for the instance type here right now
    └── ConfigError                   bad user input: a missing file, an unreadable password, ...

Errors *inside user code* are not exceptions of the client: they arrive as ``Error`` events and as
``RunResult.error``.
"""

from __future__ import annotations


class RemreplError(Exception):
    """Base class of every error remrepl raises on purpose."""


class ProtocolError(RemreplError):
    """A message broke the protocol."""


class LocalProtocolError(ProtocolError):
    """We were about to send something the protocol does not allow: a bug in the caller or in remrepl."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class VersionMismatch(RemoteProtocolError):
    """The two ends speak different protocol versions."""

    def __init__(self, ours: int, theirs: int) -> None:
        super().__init__(
            f"protocol version mismatch: this remrepl speaks version {ours}, the other end speaks "
            f"version {theirs}; install the same remrepl release on both machines"
        )
        self.ours = ours
        self.theirs = theirs


class ConnectError(RemreplError):
    """No session could be established."""


class AuthenticationFailed(ConnectError):
    """The server refused our key: the password (or the launcher's key) is wrong."""


class TooManyAttempts(ConnectError):
    """The server refused to even check our key: too many failed attempts came from this address lately
    (someone on it, maybe behind the same SSH tunnel or NAT, keeps guessing). Not a wrong password: the
    same attempt may succeed once the guessing stops. ``retry_after``: seconds to wait."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RemreplTimeout(RemreplError, TimeoutError):
    """A deadline passed. Also the builtin ``TimeoutError``, so ``except TimeoutError`` catches remrepl's
    timeouts as it does the standard library's (and, being that, an ``OSError`` with no ``errno``)."""


class ConnectTimeout(ConnectError, RemreplTimeout):
    """Nothing answered within the connect deadline."""


class ConnectionLost(RemreplError):
    """An established session's link to the server went away."""


class ServerGone(ConnectionLost):
    """The link came back but the server is gone: retrying will not help."""


class SessionClosed(RemreplError):
    """The session is closed; make a new one with ``remrepl.connect``."""


class ExecutionTimeout(RemreplTimeout):
    """A run did not finish within the caller's deadline."""


class ServerError(RemreplError):
    """The server refused a request; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ObjectError(RemreplError):
    """An object could not be copied between the two ends: no such name, or it cannot be pickled on one
    end or unpickled on the other. Nothing changed on either end."""


class TransferError(RemreplError):
    """A file transfer failed (a missing source, an unwritable target, a checksum mismatch, Ctrl-C); no
    partial file was left at the target. The message says which side and why."""


class WorkdirError(RemreplError):
    """The project directory (the workdir) cannot be synced: a file cannot be read, the walk went past its
    bound, git failed. The message names the file and the fix (often a ``.remreplignore`` line)."""


class WorkdirTooLarge(WorkdirError):
    """The project directory holds more bytes or files than the limits allow; the message names its
    largest top-level entries and the fixes (``--workdir-max-size``, ``--workdir-max-files``, a
    ``.remreplignore``, ``--no-workdir``)."""


class NoSuchPath(TransferError):
    """A transfer's source does not exist: the local file or directory of an upload, or the remote one of
    a download (the server says so: ``TransferFailed.missing``)."""


class PackageInstallError(RemreplError):
    """Installing the user's packages failed: the installer (uv or pip) exited non-zero, or could not run.

    ``command`` is the installer's command line and ``output`` its last lines, both with any password in
    an index URL replaced by ``****``; ``returncode`` is the installer's exit status (None: it never ran).
    """

    def __init__(
        self, message: str, *, command: tuple[str, ...], output: tuple[str, ...], returncode: int | None
    ) -> None:
        super().__init__(message)
        self.command = command
        self.output = output
        self.returncode = returncode


class LaunchError(RemreplError):
    """A launcher could not start a server; the message carries what the server said."""


class ConfigError(RemreplError):
    """Bad user input outside the protocol: a missing file, an unreadable password, bad options."""


class ClusterError(RemreplError):
    """A worker pool could not start, lost all its workers, or was used after ``close()``."""


class TaskError(ClusterError):
    """A function run on the cluster raised; the message names the item and carries the remote traceback.

    ``index`` is the item's position in the input, ``item`` its repr; ``exception`` is the original
    exception when it could be sent back (not chained as ``__cause__``: the message already shows it).
    """

    def __init__(self, message: str, *, index: int, item: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.index = index
        self.item = item
        self.remote_traceback = remote_traceback
        self.exception: BaseException | None = None


class SSHError(LaunchError):
    """The SSH connection to a host failed (paramiko's and the socket's errors, translated)."""


class HostKeyError(SSHError):
    """The host's key is not in known_hosts (and accepting new keys was not asked for), or it changed."""


class SSHAuthenticationFailed(SSHError):
    """The SSH host refused our user name or every key we offered."""


class HostUnreachable(SSHError):
    """Nothing answered at the SSH address (refused, no route, or the connect deadline passed)."""


class RemoteEnvironmentError(LaunchError):
    """The remote host cannot run the server: no Python 3, no remrepl, or another protocol version."""

    bootstrap_fixes = False  # would ``--bootstrap`` (a venv with this remrepl) make it right?


class SFTPUnavailable(RemoteEnvironmentError):
    """The host's SSH server offers no SFTP subsystem (no ``Subsystem sftp`` in its sshd_config), so files
    cannot be copied there over this SSH connection (``--bootstrap`` needs it)."""


class ReadinessError(LaunchError):
    """An EC2 head node did not get ready in time; ``stage`` names the stage that failed ("instance running",
    "SSH port", "SSH login", "remrepl installed", "reaper", "server ready") and the message says why."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


class CloudError(RemreplError):
    """An AWS call failed; the message names the operation and AWS's error code (``code``, or "" when the
    failure was not an AWS error response: a timeout, a connection failure)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class CloudCredentialsError(CloudError):
    """No AWS credentials or region were found (the message says where boto3 looked), or they expired."""


class CapacityError(CloudError):
    """AWS has no capacity for this instance type in this zone right now (InsufficientInstanceCapacity and
    the like): try another instance type, subnet or zone, or later."""
