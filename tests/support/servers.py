"""Real servers for the tests: ``python -m remrepl.server`` as a user starts it (``start_server``), and a
raw authenticated socket to a launched one that speaks no protocol by itself (``raw_client``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from remrepl import ConnectionInfo
from remrepl.client.session import Session, connect
from remrepl.launchers import LocalLauncher
from remrepl.transport import KeyPair, client_socket, tcp_endpoint

PASSWORD = "correct horse battery staple"


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


def raw_client(launcher: LocalLauncher) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
    """An authenticated DEALER that speaks no protocol by itself: the tests put any frames on it."""
    assert launcher.info is not None
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = client_socket(
        ctx, launcher.info.server_public_key, KeyPair.from_secret(launcher.info.client_secret_key), b"raw"
    )
    sock.connect(tcp_endpoint(launcher.info.host, launcher.info.port))
    return ctx, sock
