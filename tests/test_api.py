"""The public API is curated: this list changes only on purpose."""

import subprocess
import sys

import remrepl


def test_public_names() -> None:
    assert remrepl.__all__ == [
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
    for name in remrepl.__all__:
        assert getattr(remrepl, name) is not None


def test_cluster_is_the_function_even_after_importing_its_package() -> None:
    import remrepl.cluster

    assert callable(remrepl.cluster)
    from remrepl.cluster import Cluster

    assert remrepl.Cluster is Cluster


def test_every_error_is_a_remrepl_error() -> None:
    for name in remrepl.__all__:
        value = getattr(remrepl, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, remrepl.RemreplError)


def test_cluster_stays_the_module_after_a_call_through_remrepl() -> None:
    # In a fresh interpreter: the lazy attribute must not shadow the submodule with its function.
    code = (
        "import remrepl\n"
        "assert callable(remrepl.cluster)\n"
        "import remrepl.cluster as module\n"
        "from remrepl.cluster import WorkerBackend\n"
        "assert remrepl.cluster is module and module.WorkerBackend is WorkerBackend\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
