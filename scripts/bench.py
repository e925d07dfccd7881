#!/usr/bin/env python3
"""Benchmark remrepl side by side with jupyter_client + ipykernel and a bare pyzmq CURVE echo.

Eight sections, each measured in the same run for every contender:

  roundtrip  Execute ``1+1`` and wait for its reply, N times after a warm-up (median and p95, in µs):
             remrepl (``remrepl.launch()``: local server, CURVE + ZAP, supervisor + kernel process),
             jupyter_client + ipykernel (``execute`` until the ``execute_reply`` on the shell channel), and
             a bare pyzmq DEALER/ROUTER CURVE echo of a message the size of remrepl's request, with the
             echo server in another process. Ratios: remrepl/echo (target <= 3x) and jupyter/remrepl
             (target >= 20x).
  stream     Remote code prints LINES lines of 50 characters (51 bytes with the newline); time from
             sending the code until the run is over and every byte has reached the client (checked
             against the expected count). Seconds, MB/s (10^6 bytes/s), remrepl/jupyter (target >= 10x).
             For scale, the same loop in a local ``python`` whose stdout is a pipe read by the bench.
  latency    Remote code prints ``time.time()`` then sleeps, SAMPLES times; the client notes when each
             line arrives: delay = arrival - printed stamp (same machine, same clock). Median and max in
             ms (target for remrepl: < 50 ms).
  transfer   A file of MB megabytes uploaded then downloaded: remrepl (Session.upload/download) vs
             paramiko SFTP put/get against a private sshd (scripts/bench_transfer.py). Target >= 2x.
  ssh        remrepl over a private sshd on loopback (scripts/bench_ssh.py): ``exec --launch=ssh://`` vs
             a paramiko connect + exec floor plus the server's start-up; ``1+1`` via the tunnel vs --direct.
  exec       Wall time of ``remrepl exec --launch hi.py`` (``print("hi")``) from start to exit, median of
             RUNS runs, next to ``python -c 'print("hi")'`` (the floor). Target < 1 s.
  completion Completion round trip (request to candidates in hand), idle and while the kernel's main thread
             is busy, next to jupyter_client's complete_request (scripts/bench_completion.py). Targets:
             remrepl median < 20 ms idle, < 50 ms busy.
  cluster    ``remrepl.cluster`` map vs Dask's ``client.map`` vs ``ProcessPoolExecutor.map`` on 2 workers:
             per-item overhead, efficiency on sleep tasks, gather throughput (scripts/bench_cluster.py).
  ec2        ``up`` and ``down`` of an EC2 head node on a moto server + a loopback sshd, stage by stage
             (scripts/bench_ec2.py); no stage waits a fixed time.

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
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import bench_cluster  # the sibling modules: scripts/ is on sys.path when this runs
import bench_completion
import bench_ec2
import bench_ssh
import zmq
from bench_commands import remrepl_command, timed_command
from bench_engines import (
    BenchError,
    Deadline,
    EchoEngine,
    JupyterEngine,
    RemreplEngine,
    delay_summary,
    execute_frames,
    latency_code,
    log,
    ratio,
    stream_bytes,
    stream_code,
    timing_summary,
)
from bench_transfer import TARGETS as TRANSFER_TARGETS
from bench_transfer import render_transfer, section_transfer

JSONDict = dict[str, Any]

SECTIONS = ("roundtrip", "stream", "latency", "exec", "completion", "transfer", "ssh", "cluster", "ec2")
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
    *bench_completion.TARGETS,
    *TRANSFER_TARGETS,
    *bench_ssh.TARGETS,
    *bench_cluster.TARGETS,
    *bench_ec2.TARGETS,
)


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


def local_print_floor(code: str, deadline: float) -> tuple[float, int]:
    """The same loop in a plain local ``python`` whose stdout is a pipe read here (CPython's default
    buffering for a pipe): what a user gets from ``python job.py | ...`` on this machine, no REPL at all.
    Timed by the child, from its loop to its flush."""
    timed = f"import sys, time\n_t0 = time.perf_counter()\n{code}sys.stdout.flush()\n"
    timed += "print(time.perf_counter() - _t0, file=sys.stderr)\n"
    child = subprocess.Popen([sys.executable, "-c", timed], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stderr is not None
        received = 0
        while chunk := os.read(child.stdout.fileno(), 1 << 20):
            received += len(chunk)
            if time.monotonic() > deadline:
                raise BenchError("the local print loop did not finish in time")
        seconds = float(child.stderr.read().decode().strip().splitlines()[-1])
        child.wait(max(1.0, deadline - time.monotonic()))
        return seconds, received
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


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

    def floor() -> JSONDict:
        seconds, received = local_print_floor(code, time.monotonic() + bench.args.timeout)
        return {
            "seconds": seconds,
            "bytes": received,
            "complete": received == expected,
            "mb_per_s": received / seconds / 1e6,
        }

    out["remrepl"] = bench.measure("stream: remrepl", lambda: run(bench.remrepl()))
    out["jupyter"] = bench.measure("stream: jupyter", lambda: run(bench.jupyter()))
    out["local"] = bench.measure("stream: local python", floor)
    out["ratios"] = {
        "remrepl_over_jupyter": ratio(out["remrepl"].get("mb_per_s"), out["jupyter"].get("mb_per_s")),
        "remrepl_over_local": ratio(out["remrepl"].get("mb_per_s"), out["local"].get("mb_per_s")),
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
    "completion": bench_completion.section_completion,
    "transfer": section_transfer,
    "ssh": bench_ssh.section_ssh,
    "cluster": bench_cluster.section_cluster,
    "ec2": bench_ec2.section_ec2,
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
    for dist in ("remrepl", "pyzmq", "jupyter_client", "ipykernel", "distributed"):
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
            "completions": args.completions,
            "busy_runs": args.busy_runs,
            "busy_seconds": args.busy_seconds,
            "transfer_mb": args.transfer_mb,
            "transfer_runs": args.transfer_runs,
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
                ["local python | pipe", *_engine_cells(s["local"], st, 3)],
            ]
        )
        remrepl_over_local = s["ratios"].get("remrepl_over_local")
        if remrepl_over_local is not None:
            out.append(f"  remrepl / local python | pipe throughput: {remrepl_over_local:.2f}")
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
    if "completion" in sections:
        out += bench_completion.render(sections["completion"], _table, _num, _engine_cells)
        out += _target_lines(targets, "completion")
    if "transfer" in sections:
        s = sections["transfer"]
        out += ["", f"File transfer on loopback: {s['bytes'] / 1e6:,.0f} MB up, then back down (best of {s['runs']})"]
        out += _table(render_transfer(s, _num, _engine_cells))
        out += _target_lines(targets, "transfer")
    if "ssh" in sections:
        out += bench_ssh.render_ssh(sections["ssh"], _num)
        out += _target_lines(targets, "ssh")
    if "cluster" in sections:
        out += bench_cluster.render(sections["cluster"], _table, _num)
        out += _target_lines(targets, "cluster")
    if "ec2" in sections:
        out += bench_ec2.render(sections["ec2"], _num)
        out += _target_lines(targets, "ec2")
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
    parser.add_argument("--completions", type=positive_int, default=200, help="completions timed (default 200)")
    parser.add_argument(
        "--busy-runs", type=positive_int, default=3, help="jupyter completions during a busy run (default 3)"
    )
    parser.add_argument("--busy-seconds", type=float, default=1.0, help="length of each busy jupyter run (default 1 s)")
    parser.add_argument(
        "--transfer-mb", type=positive_int, default=200, help="size of the transferred file in MB (default 200)"
    )
    parser.add_argument(
        "--transfer-runs",
        type=positive_int,
        default=5,
        help="transfers each way, the fastest counts, the median is shown too (default 5)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="deadline for each measurement, in seconds (default 300)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="deadline for starting a server or kernel (default 60)"
    )
    bench_cluster.add_arguments(parser, positive_int)
    bench_ec2.add_arguments(parser, positive_int)
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
