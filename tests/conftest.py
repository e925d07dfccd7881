"""Fixtures shared by the whole suite: the network guard, private state, servers and sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GUARD_DIR = Path(__file__).parent / "_netguard"
sys.path.insert(0, str(GUARD_DIR))
import netguard  # noqa: E402

netguard.install()
# Every Python process the tests start (servers, kernels, clients) loads the same guard.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH")]))
# The reaper refuses to power the machine off in any process the tests start (we run as root here).
REAPER_GUARD = {"REMREPL_REAPER_FORBID_SHUTDOWN": "1"}
os.environ.update(REAPER_GUARD)

from remrepl import ConnectionInfo  # noqa: E402
from remrepl.client.session import Session, connect  # noqa: E402
from remrepl.launchers import LocalLauncher  # noqa: E402

# Private sshd servers (scripts/testhosts.py), shared with the benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import testaws  # noqa: E402
from testhosts import SSHD, SSHHosts  # noqa: E402

from tests.awsproxy import AWSProxy  # noqa: E402

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps its history, logs and session records in its own folder, and reads no config.toml
    but its own."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("REMREPL_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(state / "config"))
    monkeypatch.delenv("REMREPL_CONFIG", raising=False)
    monkeypatch.delenv("REMREPL_PASSWORD", raising=False)
    return state


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, PASSWORD.encode() + b"\n")
    os.close(fd)
    return path


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    ready: dict[str, object]
    info: ConnectionInfo
    connection_file: Path
    password: str = PASSWORD

    def connect(self, password: str = PASSWORD, connect_timeout: float = 10.0) -> Session:
        return connect(info=self.info, password=password, connect_timeout=connect_timeout)


def start_server(tmp_path: Path, password_file: Path, *extra: str, **popen: Any) -> RunningServer:
    """``python -m remrepl.server`` with a password file and ``extra`` arguments, once it is ready;
    ``popen``: more for ``subprocess.Popen`` (``env``, ``group``, ``preexec_fn``...)."""
    connection_file = tmp_path / "server.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remrepl.server",
            "--password-file",
            str(password_file),
            "--connection-file",
            str(connection_file),
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(f"server did not start: {process.stderr.read() if process.stderr else ''}")
    ready = json.loads(line)
    return RunningServer(process, ready, ConnectionInfo.from_json(ready), connection_file)


def stop_server(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    for stream in (server.process.stdout, server.process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def server(tmp_path: Path, password_file: Path) -> Iterator[RunningServer]:
    """A ``remrepl serve``-style server with a password, as a user would start it."""
    running = start_server(tmp_path, password_file)
    yield running
    stop_server(running)


@pytest.fixture
def launcher() -> Iterator[LocalLauncher]:
    """A server started by the local launcher (random key over stdin), stopped afterwards."""
    launched = LocalLauncher()
    launched.start()
    yield launched
    launched.close()


@pytest.fixture
def session(launcher: LocalLauncher) -> Iterator[Session]:
    with launcher.connect() as attached:
        yield attached


@pytest.fixture
def ssh_hosts(tmp_path_factory: pytest.TempPathFactory, private_state: Path) -> Iterator[SSHHosts]:
    """A client key, known_hosts and ssh_config, for private sshd servers started with ``.start(name)``.

    Commands run through them get the socket guard and their own state directory (``remote_state``),
    as the remote side of a real SSH host would not share our environment.
    """
    from tests.client.processes import server_processes, terminate

    remote_state = private_state / "remote"
    hosts = SSHHosts(
        tmp_path_factory.mktemp("ssh"),
        set_env={"PYTHONPATH": str(GUARD_DIR), "REMREPL_STATE_DIR": str(remote_state), **REAPER_GUARD},
    )
    try:
        yield hosts
    finally:
        hosts.close()
        terminate(server_processes(remote_state))  # servers that detached from sshd and were left behind


@pytest.fixture
def sshd(ssh_hosts: SSHHosts) -> SSHD:
    """An sshd on 127.0.0.1, known to ``ssh_hosts.ssh_config`` as ``target``."""
    return ssh_hosts.start("target")


@pytest.fixture
def ssh_jump(ssh_hosts: SSHHosts) -> SSHD:
    """An sshd (``behind``) reached through another one (``hop``) with ProxyJump."""
    ssh_hosts.start("hop")
    return ssh_hosts.start("behind", proxy_jump="hop")


# --- AWS: a moto server on 127.0.0.1 (never real AWS) ---------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``python -m moto.server`` on a free 127.0.0.1 port for the whole run; its endpoint URL."""
    with testaws.moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """boto3 (here and in every process the test starts) talks to ``endpoint`` (see testaws.aws_environment)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)
    for name, value in testaws.aws_environment(endpoint, tmp_path / "aws-empty-config").items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh (reset) moto account that boto3 talks to through the environment; its endpoint URL."""
    testaws.reset(moto_server)
    point_boto3_at(monkeypatch, tmp_path, moto_server)
    return moto_server


@pytest.fixture
def aws_proxy(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AWSProxy]:
    """``aws``, but boto3 goes through a proxy on 127.0.0.1 that can make AWS calls fail with the errors
    moto never returns (``proxy.fail("RunInstances", "InsufficientInstanceCapacity")``); see awsproxy.py."""
    proxy = AWSProxy(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    try:
        yield proxy
    finally:
        proxy.close()
