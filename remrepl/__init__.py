"""remrepl: a secure remote Python REPL.

    import remrepl

    with remrepl.launch() as server, server.connect() as session:   # a local server, stopped at the end
        session.run("x = 21 * 2")
        print(session.run("x").value)                              # '42'

    session = remrepl.connect("server.json", password="...")       # a server started by `remrepl serve`
    for event in session.execute("for i in range(3): print(i)"):  # events as they come: remrepl.Stream,
        if isinstance(event, remrepl.Stream):                      # Result, Error, InputRequest, Display,
            print(event.data.decode(), end="")                     # Progress, Notice, then Done

    with remrepl.cluster(workers=4) as cl:                         # Dask workers (run it on the head node)
        squares = cl.map(lambda x: x * x, range(100_000))

Names load on first use, so ``python -m remrepl.server``, the kernel and ``remrepl --help`` start without
importing the client (zmq, prompt_toolkit), the launchers (paramiko, boto3) or each other.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names, each with the module (under remrepl) it is imported from. This one table drives
# __all__, the lazy __getattr__ and __dir__; the TYPE_CHECKING imports below repeat it for mypy, and
# tests/test_api.py checks that they agree with it.
_PUBLIC: dict[str, str] = {
    # sessions
    "connect": "client.session",
    "Session": "client.session",
    "Execution": "client.execution",
    "RunResult": "client.execution",
    # the events an Execution yields (OutputEvent: their union, for type hints)
    "OutputEvent": "protocol.events",
    "Stream": "protocol.events",
    "Result": "protocol.events",
    "Error": "protocol.events",
    "InputRequest": "protocol.events",
    "Display": "protocol.events",
    "Progress": "protocol.events",
    "Notice": "protocol.events",
    "Done": "protocol.events",
    # servers
    "launch": "launchers",
    "Launcher": "launchers",
    "LocalLauncher": "launchers",
    "SSHLauncher": "launchers",
    "ConnectionInfo": "transport.connection_info",
    # clusters: remrepl.cluster is the package itself, callable (see cluster/__init__.py)
    "cluster": "cluster",
    "Cluster": "cluster",
    # the exception tree
    **dict.fromkeys(
        [
            "RemreplError",
            "ProtocolError",
            "LocalProtocolError",
            "RemoteProtocolError",
            "VersionMismatch",
            "ConnectError",
            "AuthenticationFailed",
            "RemreplTimeout",
            "ConnectTimeout",
            "TooManyAttempts",
            "ConnectionLost",
            "ServerGone",
            "SessionClosed",
            "TransferError",
            "NoSuchPath",
            "PackageInstallError",
            "ExecutionTimeout",
            "ServerError",
            "LaunchError",
            "ConfigError",
            "ObjectError",
            "HostKeyError",
            "HostUnreachable",
            "RemoteEnvironmentError",
            "ReadinessError",
            "SSHAuthenticationFailed",
            "SSHError",
            "ClusterError",
            "TaskError",
            "CloudError",
            "CloudCredentialsError",
            "CapacityError",
            "SFTPUnavailable",
            "WorkdirError",
            "WorkdirTooLarge",
        ],
        "_exceptions",
    ),
}

__all__ = sorted(_PUBLIC)

# For mypy, which cannot read the table: `import X as X` is an explicit re-export. (isort would put each
# such import on a line of its own.)
# isort: off
if TYPE_CHECKING:
    from ._exceptions import (
        AuthenticationFailed as AuthenticationFailed,
        CapacityError as CapacityError,
        CloudCredentialsError as CloudCredentialsError,
        CloudError as CloudError,
        ClusterError as ClusterError,
        ConfigError as ConfigError,
        ConnectError as ConnectError,
        ConnectionLost as ConnectionLost,
        ConnectTimeout as ConnectTimeout,
        ExecutionTimeout as ExecutionTimeout,
        HostKeyError as HostKeyError,
        HostUnreachable as HostUnreachable,
        LaunchError as LaunchError,
        LocalProtocolError as LocalProtocolError,
        ObjectError as ObjectError,
        PackageInstallError as PackageInstallError,
        ProtocolError as ProtocolError,
        ReadinessError as ReadinessError,
        RemoteEnvironmentError as RemoteEnvironmentError,
        RemoteProtocolError as RemoteProtocolError,
        RemreplError as RemreplError,
        RemreplTimeout as RemreplTimeout,
        ServerError as ServerError,
        ServerGone as ServerGone,
        SessionClosed as SessionClosed,
        SFTPUnavailable as SFTPUnavailable,
        SSHAuthenticationFailed as SSHAuthenticationFailed,
        SSHError as SSHError,
        TaskError as TaskError,
        TooManyAttempts as TooManyAttempts,
        NoSuchPath as NoSuchPath,
        TransferError as TransferError,
        VersionMismatch as VersionMismatch,
        WorkdirError as WorkdirError,
        WorkdirTooLarge as WorkdirTooLarge,
    )
    from .transport.connection_info import ConnectionInfo as ConnectionInfo
    from .client.execution import Execution as Execution, RunResult as RunResult
    from .client.session import Session as Session, connect as connect
    from .cluster import Cluster as Cluster, cluster as cluster
    from .launchers import (
        Launcher as Launcher,
        LocalLauncher as LocalLauncher,
        SSHLauncher as SSHLauncher,
        launch as launch,
    )
    from .protocol.events import (
        Display as Display,
        Done as Done,
        Error as Error,
        InputRequest as InputRequest,
        Notice as Notice,
        OutputEvent as OutputEvent,
        Progress as Progress,
        Result as Result,
        Stream as Stream,
    )
# isort: on


def __getattr__(name: str) -> Any:
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{where}")
    # Every public name of that module at once, so its classes show as remrepl.X however they were reached.
    for public, public_where in _PUBLIC.items():
        if public_where == where and public not in globals():
            globals()[public] = _public(module, public)
    return globals()[name]


def _public(module: Any, name: str) -> Any:
    """``module.name`` renamed into this package (``remrepl.Session``); a subpackage is itself."""
    if module.__name__ == f"{__name__}.{name}":  # remrepl.cluster: the package, whose submodules stay reachable
        return module
    value = getattr(module, name)
    if isinstance(value, (type, types.FunctionType)):
        value.__module__ = __name__  # classes and functions; a type alias (OutputEvent) has no module to set
    return value


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
