#!/usr/bin/env python3
"""Benchmark remrepl side by side with jupyter_client + ipykernel and a bare pyzmq CURVE echo.

Four sections, each measured in the same run for every contender:

  roundtrip  Execute ``1+1`` and wait for its reply, N times after a warm-up (median and p95, in µs):
             remrepl (``remrepl.launch()``: local server, CURVE + ZAP, supervisor + kernel process),
             jupyter_client + ipykernel (``execute`` until the ``execute_reply`` on the shell channel), and
             a bare pyzmq DEALER/ROUTER CURVE echo of a message the size of remrepl's request, with the
             echo server in another process. Ratios: remrepl/echo (target <= 3x) and jupyter/remrepl
             (target >= 20x).
  stream     Remote code prints LINES lines of 50 characters (51 bytes with the newline); time from
             sending the code until the run is over and every byte has reached the client (checked
             against the expected count). Seconds, MB/s (10^6 bytes/s), remrepl/jupyter (target >= 10x).
  latency    Remote code prints ``time.time()`` then sleeps, SAMPLES times; the client notes when each
             line arrives: delay = arrival - printed stamp (same machine, same clock). Median and max in
             ms (target for remrepl: < 50 ms).
  exec       Wall time of ``remrepl exec --launch hi.py`` (``print("hi")``) from start to exit, median of
             RUNS runs, next to ``python -c 'print("hi")'`` (the floor). Target < 1 s.

Run it (the ``bench`` extra installs jupyter_client and ipykernel: ``pip install -e '.[bench]'``):

    python scripts/bench.py                          # every section, as a table
    python scripts/bench.py roundtrip stream         # only some sections
    python scripts/bench.py --json                   # JSON: the same numbers, ratios, targets and "met"
    python scripts/bench.py --iterations 1000 --lines 500000 --latency-samples 100 --exec-runs 9

The ipykernel runs as jupyter_client starts it by default: TCP on loopback without CurveZMQ
(ipykernel warns about it on its stderr, kept in a log here), so on encryption the comparison favours it.

Everything talks to 127.0.0.1 only; every wait has a deadline; every server and kernel started here is
stopped at the end, also on errors. ``REMREPL_STATE_DIR``, ``JUPYTER_RUNTIME_DIR`` and ``IPYTHONDIR``
point into a temporary directory removed at the end. Progress goes to stderr. The exit status is 1 if
any measurement failed or an output count did not match (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import zmq

if TYPE_CHECKING:
    from remrepl import Launcher, Session

JSONDict = dict[str, Any]

SECTIONS = ("roundtrip", "stream", "latency", "exec")
HOST = "127.0.0.1"
ROUNDTRIP_CODE = "1+1"
LINE_CHARS = 50  # characters per streamed line, newline not counted
ECHO_LIFETIME = 3600.0  # the echo server exits on its own after this long, whatever happens here
EXEC_SCRIPT = 'print("hi")\n'

# Targets: (section, key in the section's "ratios"/numbers, comparison, threshold, what it says)
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("roundtrip", "remrepl_over_echo", "<=", 3.0, "round trip: remrepl median / bare CURVE echo median"),
    ("roundtrip", "jupyter_over_remrepl", ">=", 20.0, "round trip: jupyter median / remrepl median"),
    ("stream", "remrepl_over_jupyter", ">=", 10.0, "streaming: remrepl throughput / jupyter throughput"),
    ("latency", "remrepl_median_ms", "<", 50.0, "print-to-client delay, remrepl median (ms)"),
    ("latency", "remrepl_max_ms", "<", 50.0, "print-to-client delay, remrepl max (ms)"),
    ("exec", "remrepl_median_s", "<", 1.0, "`remrepl exec --launch` wall time, median (s)"),
)


class BenchError(Exception):
    """A measurement could not be made (a start failed, a deadline passed, output was missing)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Deadline:
    """A point in time that bounds a loop."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; ``BenchError`` once the deadline has passed."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError(f"{self.what}: not done within {self.seconds:g} s")
        return left


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (as numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timing_summary(seconds: list[float]) -> JSONDict:
    return {
        "samples": len(seconds),
        "median_us": statistics.median(seconds) * 1e6,
        "p95_us": percentile(seconds, 95) * 1e6,
        "min_us": min(seconds) * 1e6,
        "mean_us": statistics.fmean(seconds) * 1e6,
    }


def delay_summary(delays: list[float], expected: int) -> JSONDict:
    return {
        "lines": len(delays),
        "expected_lines": expected,
        "complete": len(delays) == expected,
        "median_ms": statistics.median(delays) * 1e3 if delays else None,
        "max_ms": max(delays) * 1e3 if delays else None,
        "min_ms": min(delays) * 1e3 if delays else None,
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


class LineClock:
    """Splits streamed output into lines, each a float stamp; the delay of each line as it completes."""

    def __init__(self) -> None:
        self.partial = b""
        self.delays: list[float] = []
        self.garbage: list[bytes] = []

    def feed(self, data: bytes, arrival: float) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                self.delays.append(arrival - float(line))
            except ValueError:
                self.garbage.append(line[:80])


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
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.conn.close()
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)

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


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    stack: contextlib.ExitStack
    errors: list[str] = field(default_factory=list)
    _engines: dict[str, object] = field(default_factory=dict)

    def remrepl(self) -> RemreplEngine:
        engine = self._engine("remrepl", lambda: RemreplEngine(self.args.start_timeout))
        assert isinstance(engine, RemreplEngine)
        return engine

    def jupyter(self) -> JupyterEngine:
        engine = self._engine("jupyter", lambda: JupyterEngine(self.args.start_timeout, self.workdir))
        assert isinstance(engine, JupyterEngine)
        return engine

    def echo(self) -> EchoEngine:
        engine = self._engine("echo", lambda: EchoEngine(self.args.start_timeout))
        assert isinstance(engine, EchoEngine)
        return engine

    def _engine(self, name: str, start: Callable[[], RemreplEngine | JupyterEngine | EchoEngine]) -> object:
        """Start an engine on first use, once; a failed start fails every later use quickly."""
        if name not in self._engines:
            log(f"starting {name}")
            began = time.perf_counter()
            try:
                started = start()
            except Exception as exc:
                self._engines[name] = BenchError(f"{name} did not start: {type(exc).__name__}: {exc}")
            else:
                self.stack.callback(started.close)
                self._engines[name] = started
                log(f"{name} started in {time.perf_counter() - began:.2f} s")
        engine = self._engines[name]
        if isinstance(engine, BenchError):
            raise engine
        return engine

    def measure(self, what: str, run: Callable[[], JSONDict]) -> JSONDict:
        """``run()``'s numbers, or ``{"error": ...}`` (also kept in ``errors``) if it failed."""
        log(what)
        try:
            return run()
        except Exception as exc:
            message = f"{what}: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            log(f"FAILED {message}")
            return {"error": f"{type(exc).__name__}: {exc}"}

    def deadline(self, what: str) -> Deadline:
        return Deadline(self.args.timeout, what)


def section_roundtrip(bench: Bench) -> JSONDict:
    n, warmup = bench.args.iterations, bench.args.warmup
    frames = execute_frames()
    out: JSONDict = {
        "code": ROUNDTRIP_CODE,
        "iterations": n,
        "warmup": warmup,
        "message_bytes": sum(len(f) for f in frames),
    }
    out["remrepl"] = bench.measure(
        "roundtrip: remrepl",
        lambda: timing_summary(bench.remrepl().roundtrip(n, warmup, bench.deadline("remrepl round trips"))),
    )
    out["jupyter"] = bench.measure(
        "roundtrip: jupyter",
        lambda: timing_summary(bench.jupyter().roundtrip(n, warmup, bench.deadline("jupyter round trips"))),
    )
    out["echo"] = bench.measure(
        "roundtrip: echo",
        lambda: timing_summary(bench.echo().roundtrip(frames, n, warmup, bench.deadline("echo round trips"))),
    )
    medians = {k: out[k].get("median_us") for k in ("remrepl", "jupyter", "echo")}
    out["ratios"] = {
        "remrepl_over_echo": ratio(medians["remrepl"], medians["echo"]),
        "jupyter_over_remrepl": ratio(medians["jupyter"], medians["remrepl"]),
    }
    return out


def section_stream(bench: Bench) -> JSONDict:
    lines = bench.args.lines
    code, expected = stream_code(lines), stream_bytes(lines)
    out: JSONDict = {"lines": lines, "line_chars": LINE_CHARS, "expected_bytes": expected}

    def run(engine: RemreplEngine | JupyterEngine) -> JSONDict:
        seconds, received = engine.stream(code, bench.deadline(f"{engine.name} streaming"))
        if received != expected:
            bench.errors.append(f"stream: {engine.name} received {received} bytes, expected {expected}")
        return {
            "seconds": seconds,
            "bytes": received,
            "complete": received == expected,
            "mb_per_s": received / seconds / 1e6,
        }

    out["remrepl"] = bench.measure("stream: remrepl", lambda: run(bench.remrepl()))
    out["jupyter"] = bench.measure("stream: jupyter", lambda: run(bench.jupyter()))
    out["ratios"] = {
        "remrepl_over_jupyter": ratio(out["remrepl"].get("mb_per_s"), out["jupyter"].get("mb_per_s")),
    }
    return out


def section_latency(bench: Bench) -> JSONDict:
    samples, interval = bench.args.latency_samples, bench.args.latency_interval
    code = latency_code(samples, interval)
    out: JSONDict = {"samples": samples, "interval_s": interval}

    def run(engine: RemreplEngine | JupyterEngine) -> JSONDict:
        clock = engine.latency(code, bench.deadline(f"{engine.name} latency"))
        summary = delay_summary(clock.delays, samples)
        if not summary["complete"] or clock.garbage:
            bench.errors.append(
                f"latency: {engine.name} got {len(clock.delays)} stamped lines of {samples}"
                + (f", and unparsable lines {clock.garbage[:3]!r}" if clock.garbage else "")
            )
        return summary

    out["remrepl"] = bench.measure("latency: remrepl", lambda: run(bench.remrepl()))
    out["jupyter"] = bench.measure("latency: jupyter", lambda: run(bench.jupyter()))
    out["ratios"] = {
        "remrepl_median_ms": out["remrepl"].get("median_ms"),
        "remrepl_max_ms": out["remrepl"].get("max_ms"),
    }
    return out


def remrepl_command() -> list[str]:
    """The ``remrepl`` console script of this interpreter (not a shell shim), else the same entry point."""
    script = Path(sys.executable).with_name("remrepl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from remrepl.client.cli import main; sys.exit(main())"]


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc), to stop what a timed-out command left behind."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


def timed_command(cmd: list[str], timeout: float, expected_stdout: bytes) -> float:
    """Wall seconds from start to exit of ``cmd``; ``BenchError`` on a failure or unexpected output."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # `remrepl exec --launch` starts its server in a new session: stop it by pid, then the command.
        leftovers = child_pids(process.pid)
        process.kill()
        process.communicate()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise BenchError(f"{cmd[-1]!r} did not finish within {timeout:g} s") from None
    elapsed = time.perf_counter() - start
    if process.returncode != 0 or stdout != expected_stdout:
        raise BenchError(
            f"{' '.join(cmd)} exited {process.returncode}, stdout {stdout[:200]!r}, stderr {stderr[-500:]!r}"
        )
    return elapsed


def section_exec(bench: Bench) -> JSONDict:
    runs = bench.args.exec_runs
    script = bench.workdir / "hi.py"
    script.write_text(EXEC_SCRIPT)
    remrepl_cmd = [*remrepl_command(), "exec", "--launch", str(script)]
    python_cmd = [sys.executable, "-c", EXEC_SCRIPT.strip()]
    out: JSONDict = {"runs": runs, "script": EXEC_SCRIPT.strip()}

    def run(cmd: list[str]) -> JSONDict:
        timed_command(cmd, bench.args.timeout, b"hi\n")  # warm-up: file caches, and checks the output
        times = [timed_command(cmd, bench.args.timeout, b"hi\n") for _ in range(runs)]
        return {"command": cmd, "median_s": statistics.median(times), "max_s": max(times), "runs_s": times}

    out["remrepl"] = bench.measure("exec: remrepl exec --launch", lambda: run(remrepl_cmd))
    out["python"] = bench.measure("exec: python -c", lambda: run(python_cmd))
    out["ratios"] = {
        "remrepl_median_s": out["remrepl"].get("median_s"),
        "remrepl_over_python": ratio(out["remrepl"].get("median_s"), out["python"].get("median_s")),
    }
    return out


SECTION_RUNNERS: dict[str, Callable[[Bench], JSONDict]] = {
    "roundtrip": section_roundtrip,
    "stream": section_stream,
    "latency": section_latency,
    "exec": section_exec,
}


def evaluate_targets(sections: dict[str, JSONDict]) -> JSONDict:
    targets: JSONDict = {}
    for section, key, op, threshold, description in TARGETS:
        if section not in sections:
            continue
        value = sections[section]["ratios"].get(key)
        met: bool | None = None
        if value is not None:
            met = value <= threshold if op == "<=" else value >= threshold if op == ">=" else value < threshold
        targets[f"{section}.{key}"] = {
            "description": description,
            "value": value,
            "target": f"{op} {threshold:g}",
            "op": op,
            "threshold": threshold,
            "met": bool(met),
            "measured": met is not None,
        }
    return targets


def versions() -> JSONDict:
    from importlib.metadata import PackageNotFoundError, version

    found: JSONDict = {}
    for dist in ("remrepl", "pyzmq", "jupyter_client", "ipykernel"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = None
    found["libzmq"] = zmq.zmq_version()
    return found


def meta(args: argparse.Namespace, sections: list[str]) -> JSONDict:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions(),
        "sections": sections,
        "options": {
            "iterations": args.iterations,
            "warmup": args.warmup,
            "lines": args.lines,
            "latency_samples": args.latency_samples,
            "latency_interval": args.latency_interval,
            "exec_runs": args.exec_runs,
            "timeout": args.timeout,
        },
        "environment": {k: os.environ.get(k) for k in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")},
        "started_at": time.time(),
    }


# --- output -------------------------------------------------------------------------------------


def _num(value: object, fmt: str, unit: str = "") -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:{fmt}}{unit}"


def _engine_cells(data: JSONDict, cells: Callable[[JSONDict], list[str]], width: int) -> list[str]:
    if "error" in data:
        return [f"ERROR: {data['error']}"[:160], *[""] * (width - 1)]
    return cells(data)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(len(r) for r in rows))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in enumerate(row[1:])]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def _target_lines(targets: JSONDict, section: str) -> list[str]:
    rows = []
    for name, t in targets.items():
        if not name.startswith(section + "."):
            continue
        verdict = "met" if t["met"] else ("NOT MET" if t["measured"] else "not measured")
        rows.append([f"target: {t['description']}", _num(t["value"], ",.2f"), t["target"], verdict])
    return _table(rows) if rows else []


def render_table(report: JSONDict) -> str:
    m, sections, targets = report["meta"], report["sections"], report["targets"]
    v = m["versions"]
    out = [
        f"remrepl benchmark — Python {m['python']} on {m['platform']}, {m['cpus']} CPUs; remrepl {v['remrepl']}, "
        f"pyzmq {v['pyzmq']} (libzmq {v['libzmq']}), jupyter_client {v['jupyter_client']}, "
        f"ipykernel {v['ipykernel']}",
    ]
    if "roundtrip" in sections:
        s = sections["roundtrip"]

        def rt(d: JSONDict) -> list[str]:
            return [_num(d["median_us"], ",.0f", " µs"), _num(d["p95_us"], ",.0f", " µs")]

        out += [
            "",
            f"Round trip: execute `{s['code']}` until its reply ({s['iterations']} iterations after "
            f"{s['warmup']} warm-up)",
        ]
        out += _table(
            [
                ["", "median", "p95"],
                ["remrepl (launch(), CURVE + ZAP)", *_engine_cells(s["remrepl"], rt, 2)],
                ["jupyter_client + ipykernel", *_engine_cells(s["jupyter"], rt, 2)],
                [f"bare pyzmq CURVE echo ({s['message_bytes']} B)", *_engine_cells(s["echo"], rt, 2)],
            ]
        )
        out += _target_lines(targets, "roundtrip")
    if "stream" in sections:
        s = sections["stream"]

        def st(d: JSONDict) -> list[str]:
            complete = "all bytes" if d["complete"] else f"MISSING {s['expected_bytes'] - d['bytes']:,} B"
            return [_num(d["seconds"], ".3f", " s"), _num(d["mb_per_s"], ",.1f", " MB/s"), complete]

        out += [
            "",
            f"Streaming: {s['lines']:,} lines of {s['line_chars']} characters ({s['expected_bytes']:,} bytes), "
            "until the run is over and all output is received",
        ]
        out += _table(
            [
                ["", "time", "throughput", "received"],
                ["remrepl", *_engine_cells(s["remrepl"], st, 3)],
                ["jupyter_client + ipykernel", *_engine_cells(s["jupyter"], st, 3)],
            ]
        )
        out += _target_lines(targets, "stream")
    if "latency" in sections:
        s = sections["latency"]

        def lt(d: JSONDict) -> list[str]:
            return [
                _num(d["median_ms"], ".1f", " ms"),
                _num(d["max_ms"], ".1f", " ms"),
                f"{d['lines']}/{d['expected_lines']} lines",
            ]

        out += [
            "",
            f"Print-to-client delay: print(time.time()) then sleep {s['interval_s']:g} s, {s['samples']} times",
        ]
        out += _table(
            [
                ["", "median", "max", "received"],
                ["remrepl", *_engine_cells(s["remrepl"], lt, 3)],
                ["jupyter_client + ipykernel", *_engine_cells(s["jupyter"], lt, 3)],
            ]
        )
        out += _target_lines(targets, "latency")
    if "exec" in sections:
        s = sections["exec"]

        def ex(d: JSONDict) -> list[str]:
            return [_num(d["median_s"], ".3f", " s"), _num(d["max_s"], ".3f", " s")]

        out += ["", f"One-line script ({s['script']}), wall time start to exit, {s['runs']} runs after a warm-up"]
        out += _table(
            [
                ["", "median", "max"],
                ["remrepl exec --launch hi.py", *_engine_cells(s["remrepl"], ex, 2)],
                ["python -c (the floor)", *_engine_cells(s["python"], ex, 2)],
            ]
        )
        out += _target_lines(targets, "exec")
    if report["errors"]:
        out += ["", "Errors:", *[f"  {e}" for e in report["errors"]]]
    met = sum(1 for t in targets.values() if t["met"])
    out += ["", f"{met} of {len(targets)} targets met; {'no errors' if report['ok'] else 'ERRORS (see above)'}"]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Benchmark remrepl against jupyter_client + ipykernel and a bare pyzmq CURVE echo.",
    )
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"sections to run: {', '.join(SECTIONS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--iterations", type=positive_int, default=300, help="round trips timed (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed round trips first (default 30)")
    parser.add_argument("--lines", type=positive_int, default=200_000, help="lines streamed (default 200000)")
    parser.add_argument("--latency-samples", type=positive_int, default=50, help="stamped lines printed (default 50)")
    parser.add_argument(
        "--latency-interval", type=float, default=0.05, help="sleep between stamped lines (default 0.05 s)"
    )
    parser.add_argument("--exec-runs", type=positive_int, default=5, help="timed `remrepl exec` runs (default 5)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="deadline for each measurement, in seconds (default 300)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="deadline for starting a server or kernel (default 60)"
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.warmup < 0 or args.latency_interval < 0 or args.timeout <= 0 or args.start_timeout <= 0:
        parser.error("--warmup and --latency-interval must be >= 0; timeouts must be > 0")
    return args


@contextlib.contextmanager
def private_environment() -> Iterator[Path]:
    """A temporary directory for remrepl's state, Jupyter's runtime files and IPython's profile."""
    workdir = Path(tempfile.mkdtemp(prefix="remrepl-bench-"))
    names = ("REMREPL_STATE_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "JUPYTER_PATH")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["REMREPL_STATE_DIR"] = str(workdir / "remrepl-state")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(workdir / "jupyter-runtime")
    os.environ["IPYTHONDIR"] = str(workdir / "ipython")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(workdir / "jupyter"), saved["JUPYTER_PATH"]]))
    try:
        yield workdir
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace) -> JSONDict:
    chosen = [s for s in SECTIONS if not args.sections or s in args.sections]
    results: dict[str, JSONDict] = {}
    with private_environment() as workdir, contextlib.ExitStack() as stack:
        bench = Bench(args, workdir, stack)
        report_meta = meta(args, chosen)
        for name in chosen:
            results[name] = SECTION_RUNNERS[name](bench)
        errors = bench.errors
    # The ExitStack has stopped every server and kernel by now, and the temporary directory is gone.
    return {
        "benchmark": "remrepl",
        "meta": report_meta,
        "sections": results,
        "targets": evaluate_targets(results),
        "errors": errors,
        "ok": not errors,
    }


class _StopOnSigterm:
    """SIGTERM raises SystemExit, so the cleanup in ``finally`` blocks runs as for Ctrl-C."""

    def __enter__(self) -> None:
        self.previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        signal.signal(signal.SIGTERM, self.previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with _StopOnSigterm():
        report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
