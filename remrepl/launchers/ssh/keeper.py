"""The remote end of the SSH launcher: runs on the SSH host, its stdin and stdout being the SSH channel.

``start``: read the client key (one line) from the channel, start ``python -m remrepl.server
--client-key-stdin --tether`` in its own session with the key on a pipe, pass its ready line back over
the channel, then stay as the server's *tether keeper*. The keeper holds the write end of the server's
stdin (its tether) and reads the launcher's commands from the channel:

- ``stop``: close the tether now (the server shuts down); exit with the server's status;
- ``detach``: untether the server (``--keep``); it lives on by itself;
- end of input without either (the SSH link dropped, or the launcher died): wait ``--grace`` seconds for
  the launcher to come back through ``attach``; if it does not, close the tether (the server stops).

``attach SOCKET``: a reconnected launcher's new channel; relays its stdin to the keeper over the keeper's
Unix socket (in a 0700 directory of the remote state directory), so ``stop``/``detach`` work again.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..._exceptions import RemoteProtocolError
from ..._files import open_private_log, python_command, state_dir
from ...protocol.keeper import (
    Attached,
    Detach,
    Gone,
    KeeperFailed,
    KeeperLine,
    Stop,
    decode_server_ready,
    decode_words,
    encode_line,
    encode_word,
    keeper_ready,
)

READY_TIMEOUT = 60.0
STOP_WAIT = 10.0


def _read_line(fd: int) -> bytes:
    raw = b""
    while not raw.endswith(b"\n") and len(raw) < 4096:  # a byte at a time: what follows is the tether's
        byte = os.read(fd, 1)
        if not byte:
            break
        raw += byte
    return raw.strip()


def _emit(message: KeeperLine) -> None:
    os.write(1, encode_line(message))


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])[-16000:]  # fits a line
    except OSError:
        return ""


def _bind_address(direct: bool) -> str:
    """127.0.0.1; with ``--direct``, the address the SSH client reached this host at (so it can reach us)."""
    if direct:
        fields = os.environ.get("SSH_CONNECTION", "").split()
        if len(fields) == 4:
            return fields[2]
    return "127.0.0.1"


def start(args: argparse.Namespace) -> int:
    key = _read_line(0)
    log_path = state_dir("logs") / f"ssh-{os.getpid()}-{time.time_ns()}.log"
    log_fd = open_private_log(log_path)
    tether_r, tether_w = os.pipe()
    bind = _bind_address(args.direct)
    server_args = ["--client-key-stdin", "--tether", "--bind", bind]
    if args.idle_timeout is not None:
        server_args += ["--idle-timeout", str(args.idle_timeout)]
    # The SSH login's directory (the home) is the server's: a user's json.py there is not ours to import.
    cmd = python_command(sys.executable, module="remrepl.server", args=server_args)
    try:
        server = subprocess.Popen(cmd, stdin=tether_r, stdout=subprocess.PIPE, stderr=log_fd, start_new_session=True)
    finally:
        os.close(tether_r)
        os.close(log_fd)
    assert server.stdout is not None
    os.write(tether_w, key + b"\n")
    ready = b""
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([server.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(server.stdout.fileno(), 4096)
            if not chunk:
                break
            ready += chunk
    try:
        server_ready = decode_server_ready(ready.strip()) if ready.endswith(b"\n") else None
    except RemoteProtocolError:
        server_ready = None
    if server_ready is None:
        os.close(tether_w)
        try:
            status = server.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            status = server.wait()
        _emit(KeeperFailed(status, str(log_path), _log_tail(log_path)))
        return 1
    server.stdout.close()
    tether_dir = state_dir("tethers")
    sock_path = tether_dir / f"{server.pid}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_path.unlink(missing_ok=True)
    listener.bind(str(sock_path))
    listener.listen(4)
    _emit(keeper_ready(server_ready, log=str(log_path), tether=str(sock_path), keeper_pid=os.getpid()))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the SSH session ending is handled as end of input
    try:
        return _keep(server, tether_w, listener, args.grace)
    finally:
        listener.close()
        sock_path.unlink(missing_ok=True)


def _keep(server: subprocess.Popen[bytes], tether_w: int, listener: socket.socket, grace: float) -> int:
    """The tether keeper's loop (see the module docstring); the exit status for the SSH channel."""
    source: socket.socket | int | None = 0
    buffer = b""
    lost_at: float | None = None
    while server.poll() is None:
        watched: list[socket.socket | int] = [listener] if source is None else [listener, source]
        ready = select.select(watched, [], [], 0.5)[0]
        if listener in ready:
            conn, _ = listener.accept()
            if isinstance(source, socket.socket):
                source.close()
            source, buffer, lost_at = conn, b"", None
            conn.sendall(encode_word(Attached()))
            continue
        if source is not None and source in ready:
            try:
                chunk = source.recv(4096) if isinstance(source, socket.socket) else os.read(source, 4096)
            except OSError:
                chunk = b""
            if chunk:
                buffer += chunk
                whole, _, rest = buffer.rpartition(b"\n")
                buffer = rest[-64:]
                words = decode_words(whole)
                if any(isinstance(word, Detach) for word in words):
                    os.write(tether_w, b"detach\n")  # the server's tether (serve.py --tether)
                    os.close(tether_w)
                    return 0
                if any(isinstance(word, Stop) for word in words):
                    return _stop(server, tether_w)
                continue
            if isinstance(source, socket.socket):
                source.close()
            source, lost_at = None, time.monotonic()
        if lost_at is not None and time.monotonic() - lost_at > grace:
            return _stop(server, tether_w)
    os.close(tether_w)
    return server.returncode or 0


def _stop(server: subprocess.Popen[bytes], tether_w: int) -> int:
    os.close(tether_w)  # the server's tether: it shuts down cleanly
    try:
        return server.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        server.terminate()
        try:
            return server.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            return server.wait()


def attach(args: argparse.Namespace) -> int:
    """Relay this channel's stdin to the keeper at ``args.socket``."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(args.socket)
    except OSError:
        os.write(1, encode_word(Gone()))
        return 3
    with conn:
        os.write(1, conn.recv(64))  # the keeper's Attached
        watched: list[int | socket.socket] = [0, conn]
        while True:
            ready = select.select(watched, [], [])[0]
            if conn in ready and not conn.recv(4096):
                return 0  # the keeper ended (the server stopped, or another launcher took over)
            if 0 in ready:
                data = os.read(0, 4096)
                if not data:
                    return 0
                conn.sendall(data)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="remrepl-remote")
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start")
    start_parser.add_argument("--direct", action="store_true")
    start_parser.add_argument("--idle-timeout", type=float)
    start_parser.add_argument("--grace", type=float, default=60.0)
    attach_parser = commands.add_parser("attach")
    attach_parser.add_argument("socket")
    args = parser.parse_args(argv)
    return start(args) if args.command == "start" else attach(args)
