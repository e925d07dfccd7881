"""The public API is curated: this list changes only on purpose."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import remrepl
from remrepl import _exceptions


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
        "Display",
        "Done",
        "Error",
        "Execution",
        "ExecutionTimeout",
        "HostKeyError",
        "HostUnreachable",
        "InputRequest",
        "LaunchError",
        "Launcher",
        "LocalLauncher",
        "LocalProtocolError",
        "NoSuchPath",
        "Notice",
        "ObjectError",
        "OutputEvent",
        "PackageInstallError",
        "Progress",
        "ProtocolError",
        "ReadinessError",
        "RemoteEnvironmentError",
        "RemoteProtocolError",
        "RemreplError",
        "RemreplTimeout",
        "Result",
        "RunResult",
        "SFTPUnavailable",
        "SSHAuthenticationFailed",
        "SSHError",
        "SSHLauncher",
        "ServerError",
        "ServerGone",
        "Session",
        "SessionClosed",
        "Stream",
        "TaskError",
        "TooManyAttempts",
        "TransferError",
        "VersionMismatch",
        "WorkdirError",
        "WorkdirTooLarge",
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


def test_the_type_checking_imports_are_the_table() -> None:
    # mypy reads the TYPE_CHECKING imports, the interpreter the table: they must name the same things.
    tree = ast.parse(Path(remrepl.__file__).read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    imported = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        imported.update({alias.name: node.module for alias in node.names})
        assert all(alias.asname == alias.name for alias in node.names)  # what makes mypy see them exported
    assert imported == remrepl._PUBLIC
    assert dir(remrepl) == sorted([*remrepl.__all__, "__version__"])  # dir() sorts what __dir__ gives


def test_public_classes_and_functions_show_as_remrepl() -> None:
    for name in remrepl.__all__:
        value = getattr(remrepl, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "remrepl", name
            assert value.__qualname__ == name
    assert repr(remrepl.Session) == "<class 'remrepl.Session'>"


def test_the_events_an_execution_yields_are_public() -> None:
    import typing

    from remrepl.protocol import OutputEvent

    assert {event.__name__ for event in typing.get_args(OutputEvent)} <= set(remrepl.__all__)
    assert remrepl.OutputEvent == OutputEvent


def test_every_exception_of_the_tree_is_public() -> None:
    tree = {
        name for name, value in vars(_exceptions).items() if isinstance(value, type) and issubclass(value, Exception)
    }
    assert tree <= set(remrepl.__all__)


def test_events_still_encode_after_their_public_names_are_loaded() -> None:
    # The codec reads the events' type hints through their module; renaming it must not break that.
    code = (
        "import remrepl\n"
        "for name in remrepl.__all__: getattr(remrepl, name)\n"
        "from remrepl.protocol import decode, encode\n"
        "event = remrepl.Stream(seq=1, req_id='r', name='stdout', data=b'x')\n"
        "assert decode(encode(event)) == event\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
