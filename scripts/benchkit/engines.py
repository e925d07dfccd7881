"""The contenders of scripts/bench.py: remrepl, jupyter_client + ipykernel, a bare pyzmq CURVE echo, and
rpyc's classic server.

Each engine starts its server or kernel, runs one measured operation at a time, and stops everything it
started on close.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import queue
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from .common import HOST, BenchError, Deadline, JSONDict, LineClock, stop_peer

if TYPE_CHECKING:
    from remrepl import Launcher, Session

ROUNDTRIP_CODE = "1+1"
LINE_CHARS = 50  # characters per streamed line, newline not counted
ECHO_LIFETIME = 3600.0  # the echo server exits on its own after this long, whatever happens here


# --- workloads ----------------------------------------------------------------------------------


def stream_code(lines: int) -> str:
    return f"_line = {'x' * LINE_CHARS!r}\nfor _ in range({lines}):\n    print(_line)\n"


def stream_bytes(lines: int) -> int:
    return lines * (LINE_CHARS + 1)


def latency_code(samples: int, interval: float) -> str:
    return f"import time\nfor _ in range({samples}):\n    print(time.time())\n    time.sleep({interval!r})\n"


# --- remrepl ------------------------------------------------------------------------------------


class RemreplEngine:
    """A local remrepl server (``remrepl.launch()``) and one session on it."""

    name = "remrepl"

    def __init__(self, start_timeout: float) -> None:
        import remrepl

        self.launcher: Launcher = remrepl.launch(start_timeout=start_timeout)
        try:
            self.session: Session = self.launcher.connect(connect_timeout=start_timeout)
            check = self.session.run(ROUNDTRIP_CODE, timeout=start_timeout)
            if check.value != "2":
                raise BenchError(f"remrepl answered {check.value!r} to {ROUNDTRIP_CODE!r}")
        except BaseException:
            self.launcher.close()
            raise

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            self.launcher.close()

    def roundtrip(self, iterations: int, warmup: int, deadline: Deadline) -> list[float]:
        samples: list[float] = []
        for i in range(warmup + iterations):
            start = time.perf_counter()
            done = self.session.execute(ROUNDTRIP_CODE).wait(deadline.remaining())
            elapsed = time.perf_counter() - start
            if done.status != "ok":
                raise BenchError(f"remrepl: {ROUNDTRIP_CODE!r} ended with status {done.status}")
            if i >= warmup:
                samples.append(elapsed)
        return samples

    def stream(self, code: str, deadline: Deadline) -> tuple[float, int]:
        from remrepl.protocol import Stream

        received = 0
        start = time.perf_counter()
        execution = self.session.execute(code)
        for event in execution.events(deadline.remaining()):
            if isinstance(event, Stream) and event.req_id == execution.req_id:
                received += len(event.data)
        elapsed = time.perf_counter() - start
        if execution.done is None or execution.done.status != "ok":
            raise BenchError(f"remrepl: the streaming run ended with {execution.done}")
        return elapsed, received

    def latency(self, code: str, deadline: Deadline) -> LineClock:
        from remrepl.protocol import Stream

        clock = LineClock()
        execution = self.session.execute(code)
        for event in execution.events(deadline.remaining()):
            if isinstance(event, Stream) and event.req_id == execution.req_id and event.name == "stdout":
                clock.feed(event.data, time.time())
        if execution.done is None or execution.done.status != "ok":
            raise BenchError(f"remrepl: the latency run ended with {execution.done}")
        return clock


# --- jupyter_client + ipykernel -----------------------------------------------------------------


class JupyterEngine:
    """An ipykernel started by jupyter_client (``start_new_kernel``), with its blocking client."""

    name = "jupyter"

    def __init__(self, start_timeout: float, workdir: Path) -> None:
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import start_new_kernel

        self.log_path = workdir / "ipykernel.log"
        kernel_log = open(self.log_path, "wb")  # noqa: SIM115 - closed below; the kernel holds its own copy
        try:
            try:
                self.kernel_name = "python3"
                self.km, self.kc = start_new_kernel(
                    startup_timeout=start_timeout, kernel_name=self.kernel_name, stderr=kernel_log
                )
            except NoSuchKernel:
                # No installed spec (installing one is not this script's business): a private one in the
                # temporary JUPYTER_PATH entry, running this interpreter's ipykernel.
                self.kernel_name = write_private_kernelspec(workdir)
                self.km, self.kc = start_new_kernel(
                    startup_timeout=start_timeout, kernel_name=self.kernel_name, stderr=kernel_log
                )
        except Exception as exc:
            raise BenchError(f"{type(exc).__name__}: {exc}; ipykernel's stderr: {self.log_tail()!r}") from exc
        finally:
            kernel_log.close()
        try:
            self.drain_iopub()
            reply = self.execute_and_wait(ROUNDTRIP_CODE, Deadline(start_timeout, "jupyter check"))
            if reply["content"].get("status") != "ok":
                raise BenchError(f"jupyter: {ROUNDTRIP_CODE!r} replied {reply['content']}")
        except BaseException:
            self.close()
            raise

    def log_tail(self, chars: int = 1000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)

    def drain_iopub(self) -> None:
        with contextlib.suppress(queue.Empty):
            for _ in range(100_000):
                self.kc.get_iopub_msg(timeout=0.05)

    def shell_reply(self, msg_id: str, deadline: Deadline) -> JSONDict:
        while True:  # bounded by the deadline
            try:
                msg: JSONDict = self.kc.get_shell_msg(timeout=deadline.remaining())
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
                return msg

    def until_idle(self, msg_id: str, deadline: Deadline, on_msg: Callable[[JSONDict], None] | None = None) -> None:
        """Read iopub until the kernel reports idle for ``msg_id``, giving its messages to ``on_msg``."""
        while True:  # bounded by the deadline
            try:
                msg: JSONDict = self.kc.get_iopub_msg(timeout=deadline.remaining())
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                return
            if on_msg is not None:
                on_msg(msg)

    def execute_and_wait(self, code: str, deadline: Deadline) -> JSONDict:
        msg_id: str = self.kc.execute(code)
        reply = self.shell_reply(msg_id, deadline)
        self.until_idle(msg_id, deadline)
        return reply

    def roundtrip(self, iterations: int, warmup: int, deadline: Deadline) -> list[float]:
        samples: list[float] = []
        for i in range(warmup + iterations):
            start = time.perf_counter()
            msg_id: str = self.kc.execute(ROUNDTRIP_CODE)
            reply = self.shell_reply(msg_id, deadline)
            elapsed = time.perf_counter() - start
            self.until_idle(msg_id, deadline)  # untimed: the kernel is idle again before the next one
            if reply["content"].get("status") != "ok":
                raise BenchError(f"jupyter: {ROUNDTRIP_CODE!r} replied {reply['content']}")
            if i >= warmup:
                samples.append(elapsed)
        return samples

    def stream(self, code: str, deadline: Deadline) -> tuple[float, int]:
        received = 0

        def count(msg: JSONDict) -> None:
            nonlocal received
            if msg["msg_type"] == "stream":
                received += len(str(msg["content"].get("text", "")).encode())

        start = time.perf_counter()
        msg_id: str = self.kc.execute(code)
        self.until_idle(msg_id, deadline, count)
        elapsed = time.perf_counter() - start
        reply = self.shell_reply(msg_id, deadline)
        if reply["content"].get("status") != "ok":
            raise BenchError(f"jupyter: the streaming run replied {reply['content'].get('status')}")
        return elapsed, received

    def latency(self, code: str, deadline: Deadline) -> LineClock:
        clock = LineClock()

        def note(msg: JSONDict) -> None:
            if msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout":
                clock.feed(str(msg["content"].get("text", "")).encode(), time.time())

        msg_id: str = self.kc.execute(code)
        self.until_idle(msg_id, deadline, note)
        reply = self.shell_reply(msg_id, deadline)
        if reply["content"].get("status") != "ok":
            raise BenchError(f"jupyter: the latency run replied {reply['content'].get('status')}")
        return clock


def write_private_kernelspec(workdir: Path) -> str:
    """A kernelspec for this interpreter's ipykernel under the run's temporary JUPYTER_PATH entry."""
    name = "remrepl-bench-python3"
    spec_dir = workdir / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (remrepl bench)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return name


# --- bare pyzmq CURVE echo ----------------------------------------------------------------------


def echo_server(secret_key: bytes, conn: Connection, lifetime: float) -> None:
    """ROUTER, CURVE server, no ZAP: sends every message back. Stops on a word from ``conn`` (or its EOF)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret_key)
    try:
        conn.send(sock.bind_to_random_port(f"tcp://{HOST}"))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(conn.fileno(), zmq.POLLIN)
        end = time.monotonic() + lifetime
        while time.monotonic() < end:
            ready = dict(poller.poll(1000))
            if conn.fileno() in ready:
                return
            if sock in ready:
                sock.send_multipart(sock.recv_multipart())
    finally:
        sock.close(linger=0)
        ctx.term()


class EchoEngine:
    """A DEALER client of ``echo_server`` running in a separate process."""

    name = "echo"

    def __init__(self, start_timeout: float) -> None:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        mp = multiprocessing.get_context("spawn")
        self.conn, child_conn = mp.Pipe()
        self.process = mp.Process(
            target=echo_server, args=(server_secret, child_conn, ECHO_LIFETIME), name="bench-echo", daemon=True
        )
        self.process.start()
        child_conn.close()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        try:
            if not self.conn.poll(start_timeout):
                raise BenchError(f"echo server: no port within {start_timeout:g} s")
            port = int(self.conn.recv())
            self.sock.setsockopt(zmq.LINGER, 0)
            self.sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
            self.sock.setsockopt(zmq.CURVE_PUBLICKEY, client_public)
            self.sock.setsockopt(zmq.CURVE_SECRETKEY, client_secret)
            self.sock.connect(f"tcp://{HOST}:{port}")
        except BaseException:
            self.close()
            raise

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
            reply = self.sock.recv_multipart()
            elapsed = time.perf_counter() - start
            if reply != frames:
                raise BenchError("echo: the reply differs from the request")
            if i >= warmup:
                samples.append(elapsed)
        return samples


def execute_frames() -> list[bytes]:
    """The frames remrepl sends for ``1+1`` (what the echo sends, so both carry the same bytes)."""
    from remrepl.protocol import Execute, encode

    return encode(Execute(uuid.uuid4().hex, ROUNDTRIP_CODE, ack=1000))


# --- rpyc classic -------------------------------------------------------------------------------

# rpyc's classic server (SlaveService) on 127.0.0.1, unencrypted (as ``rpyc_classic`` runs by default):
# it prints its port, then serves until its stdin closes (the bench's end, whatever way it ends).
RPYC_SERVER = """
import os, sys, threading
from rpyc.core.service import SlaveService
from rpyc.utils.server import ThreadedServer
server = ThreadedServer(SlaveService, hostname=sys.argv[1], port=0, reuse_addr=True)
server._listen()  # listening before the port is told (start() listens too, but only after this line)
print(server.port, flush=True)
def _tether():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=_tether, daemon=True).start()
server.start()
"""


class RpycEngine:
    """rpyc's classic server in another process, and one connection to it: ``conn.eval(code)``."""

    name = "rpyc"

    def __init__(self, start_timeout: float) -> None:
        import rpyc

        self.process = subprocess.Popen(
            [sys.executable, "-c", RPYC_SERVER, HOST],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert self.process.stdout is not None
            port = self._read_port(start_timeout)
            self.conn = rpyc.classic.connect(HOST, port)
            value = self.conn.eval(ROUNDTRIP_CODE)
            if value != 2:
                raise BenchError(f"rpyc answered {value!r} to {ROUNDTRIP_CODE!r}")
        except BaseException:
            self._stop()
            raise

    def _read_port(self, timeout: float) -> int:
        import selectors

        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise BenchError(f"rpyc server: no port within {timeout:g} s")
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            raise BenchError(f"rpyc server did not start (it said {line!r}; is rpyc installed?)")
        return int(line)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self._stop()

    def _stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # its tether: it exits
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def roundtrip(self, iterations: int, warmup: int, deadline: Deadline) -> list[float]:
        samples: list[float] = []
        for i in range(warmup + iterations):
            deadline.remaining()
            start = time.perf_counter()
            value = self.conn.eval(ROUNDTRIP_CODE)
            elapsed = time.perf_counter() - start
            if value != 2:
                raise BenchError(f"rpyc: {ROUNDTRIP_CODE!r} gave {value!r}")
            if i >= warmup:
                samples.append(elapsed)
        return samples
