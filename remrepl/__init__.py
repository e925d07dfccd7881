"""remrepl: a secure remote Python REPL.

    import remrepl

    with remrepl.launch() as server, server.connect() as session:   # a local server, stopped at the end
        session.run("x = 21 * 2")
        print(session.run("x").value)                              # '42'

    session = remrepl.connect("server.json", password="...")       # a server started by `remrepl serve`

    with remrepl.cluster(workers=4) as cl:                         # Dask workers (run it on the head node)
        squares = cl.map(lambda x: x * x, range(100_000))

Names load on first use, so ``python -m remrepl.server`` and the kernel start without importing the
client (prompt_toolkit) or each other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._exceptions import (
        AuthenticationFailed,
        CapacityError,
        CloudCredentialsError,
        CloudError,
        ClusterError,
        ConfigError,
        ConnectError,
        ConnectionLost,
        ConnectTimeout,
        ExecutionTimeout,
        HostKeyError,
        HostUnreachable,
        LaunchError,
        LocalProtocolError,
        ObjectError,
        ProtocolError,
        ReadinessError,
        RemoteEnvironmentError,
        RemoteProtocolError,
        RemreplError,
        ServerError,
        SessionClosed,
        SSHAuthenticationFailed,
        SSHError,
        TaskError,
        TooManyAttempts,
        TransferError,
        VersionMismatch,
    )
    from .client.execution import Execution, RunResult
    from .client.session import Session, connect
    from .cluster import Cluster, cluster
    from .launchers import Launcher, LocalLauncher, SSHLauncher, launch
    from .transport.connection_info import ConnectionInfo

_WHERE = {
    "connect": "client.session",
    "Session": "client.session",
    "Execution": "client.execution",
    "RunResult": "client.execution",
    "launch": "launchers",
    "Launcher": "launchers",
    "LocalLauncher": "launchers",
    "SSHLauncher": "launchers",
    "ConnectionInfo": "transport.connection_info",
    "cluster": "cluster",
    "Cluster": "cluster",
    **dict.fromkeys(
        [
            "RemreplError",
            "ProtocolError",
            "LocalProtocolError",
            "RemoteProtocolError",
            "VersionMismatch",
            "ConnectError",
            "AuthenticationFailed",
            "ConnectTimeout",
            "TooManyAttempts",
            "ConnectionLost",
            "SessionClosed",
            "TransferError",
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
        ],
        "_exceptions",
    ),
}

__all__ = [
    "AuthenticationFailed",
    "CapacityError",
    "CloudCredentialsError",
    "CloudError",
    "Cluster",
    "ClusterError",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionInfo",
    "ConnectionLost",
    "Execution",
    "ExecutionTimeout",
    "HostKeyError",
    "HostUnreachable",
    "LaunchError",
    "Launcher",
    "LocalLauncher",
    "LocalProtocolError",
    "ObjectError",
    "ProtocolError",
    "ReadinessError",
    "RemoteEnvironmentError",
    "RemoteProtocolError",
    "RemreplError",
    "RunResult",
    "SSHAuthenticationFailed",
    "SSHError",
    "SSHLauncher",
    "ServerError",
    "Session",
    "SessionClosed",
    "TaskError",
    "TooManyAttempts",
    "TransferError",
    "VersionMismatch",
    "cluster",
    "connect",
    "launch",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'remrepl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    if name == "cluster":  # the callable module, not its function: remrepl.cluster.WorkerBackend must stay reachable
        value = importlib.import_module(".cluster", __name__)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
