"""Fixtures shared by the whole suite: the network guard, private state, servers and sessions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def start_server(tmp_path: Path, password_file: Path, *extra: str) -> RunningServer:
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

MOTO_START_TIMEOUT = 30.0


def _loopback_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``python -m moto.server`` on a free 127.0.0.1 port for the whole run; its endpoint URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT
        while True:
            try:
                with _loopback_opener().open(f"{endpoint}/moto-api/data.json", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"moto server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with _loopback_opener().open(request, timeout=10):
        pass


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """boto3 (here and in every process the test starts) talks to ``endpoint`` with fake credentials, in
    us-east-1, reading no real ~/.aws file and never asking an instance metadata service."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "aws-empty-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh (reset) moto account that boto3 talks to through the environment; its endpoint URL."""
    reset_moto(moto_server)
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
