"""The floor of remrepl's three-process design: a lean relay with a lean kernel, for the profiler.

What any supervisor in remrepl's design must do for ``1+1``, and nothing else: a ROUTER (CURVE server,
no ZAP) receives the client's request, parses its JSON header, writes one JSON line with the code to a
kernel process over a socketpair, reads the kernel's one-line answer, and sends one JSON reply frame
back. The kernel compiles and runs the code as the REPL does (``single`` mode, the displayhook's repr).
``profile_supervisor.py --peers`` times it next to remrepl and the bare echo, so the gap between remrepl
and this relay is what the supervisor's and kernel's own machinery costs, and the gap between this
relay and the echo is what the design itself costs (two more process hops, the compile and the run).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import zmq

from .common import HOST, BenchError, Deadline, stop_peer

# The lean kernel: one JSON line in, one JSON line out, the code run as the REPL runs it.
KERNEL = """
import json, socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
reader = sock.makefile("rb")
results = []
sys.displayhook = lambda value: results.append(repr(value)) if value is not None else None
namespace = {"__name__": "__main__"}
for line in reader:
    msg = json.loads(line)
    exec(compile(msg["code"], "<remote>", "single"), namespace)
    sock.sendall(json.dumps({"op": "done", "results": results}).encode() + b"\\n")
    results.clear()
"""


def relay_server(secret_key: bytes, conn: Connection, lifetime: float) -> None:
    """ROUTER (CURVE server) <-> lean kernel. Stops on a word from ``conn`` (or its EOF)."""
    ours, theirs = socket.socketpair()
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret_key)
    try:
        conn.send((sock.bind_to_random_port(f"tcp://{HOST}"), kernel.pid))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(ours.fileno(), zmq.POLLIN)
        poller.register(conn.fileno(), zmq.POLLIN)
        waiting: tuple[bytes, str] | None = None
        seq = 0
        end = time.monotonic() + lifetime
        while time.monotonic() < end:
            ready = dict(poller.poll(1000))
            if conn.fileno() in ready:
                return
            if sock in ready:
                identity, header, *_ = sock.recv_multipart()
                request = json.loads(header)
                waiting = (identity, request["req_id"])
                ours.sendall(json.dumps({"op": "execute", "code": request["code"]}).encode() + b"\n")
            if ours.fileno() in ready and waiting is not None:
                answer = json.loads(ours.recv(65536))
                seq += 1
                reply = {"type": "done", "seq": seq, "req_id": waiting[1], "status": "ok", "results": answer["results"]}
                sock.send_multipart([waiting[0], json.dumps(reply).encode()])
                waiting = None
    finally:
        sock.close(linger=0)
        ctx.term()
        ours.close()
        kernel.kill()
        kernel.wait()


class RelayEngine:
    """A DEALER client of ``relay_server`` running in a separate process (with its kernel)."""

    name = "relay"

    def __init__(self, start_timeout: float) -> None:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        mp = multiprocessing.get_context("spawn")
        self.conn, child_conn = mp.Pipe()
        self.process = mp.Process(target=relay_server, args=(server_secret, child_conn, 3600.0), daemon=True)
        self.process.start()
        child_conn.close()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        if not self.conn.poll(start_timeout):
            self.close()
            raise BenchError(f"relay: no port within {start_timeout:g} s")
        port, self.kernel_pid = self.conn.recv()
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
        self.sock.setsockopt(zmq.CURVE_PUBLICKEY, client_public)
        self.sock.setsockopt(zmq.CURVE_SECRETKEY, client_secret)
        self.sock.connect(f"tcp://{HOST}:{port}")

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()
        stop_peer(self.process, self.conn)

    def roundtrip(self, frames: list[bytes], iterations: int, warmup: int, deadline: Deadline) -> list[float]:
        samples: list[float] = []
        for i in range(warmup + iterations):
            start = time.perf_counter()
            self.sock.send_multipart(frames)
            while not self.sock.poll(int(deadline.remaining() * 1000) + 1):
                pass  # bounded: remaining() raises once the deadline has passed
            reply = json.loads(self.sock.recv_multipart()[0])
            elapsed = time.perf_counter() - start
            if reply["results"] != ["2"]:
                raise BenchError(f"relay: the reply was {reply}")
            if i >= warmup:
                samples.append(elapsed)
        return samples

    @property
    def pids(self) -> tuple[int, int]:
        assert self.process.pid is not None
        return self.process.pid, self.kernel_pid


if __name__ == "__main__":  # pragma: no cover - a manual check
    engine = RelayEngine(30)
    try:
        print(os.getpid(), engine.pids)
    finally:
        engine.close()
