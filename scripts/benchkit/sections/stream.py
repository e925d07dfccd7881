"""The ``stream`` section: remote code prints LINES lines of 50 characters (51 bytes with the newline).

Time from sending the code until the run is over and every byte has reached the client (checked against
the expected count). Seconds, MB/s (10^6 bytes/s), remrepl/jupyter (target >= 10x). For scale, the same
loop in a local ``python`` whose stdout is a pipe read by the bench.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from ..common import BenchError, JSONDict, positive_int, ratio
from ..engines import LINE_CHARS, JupyterEngine, RemreplEngine, stream_bytes, stream_code
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stream section")
    group.add_argument("--lines", type=positive_int, default=200_000, help="lines streamed (default 200000)")


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


def run(bench: Bench) -> JSONDict:
    lines = bench.args.lines
    code, expected = stream_code(lines), stream_bytes(lines)
    out: JSONDict = {"lines": lines, "line_chars": LINE_CHARS, "expected_bytes": expected}

    def numbers(seconds: float, received: int) -> JSONDict:
        return {
            "seconds": seconds,
            "bytes": received,
            "complete": received == expected,
            "mb_per_s": received / seconds / 1e6,
        }

    def stream(engine: RemreplEngine | JupyterEngine) -> JSONDict:
        seconds, received = engine.stream(code, bench.deadline(f"{engine.name} streaming"))
        if received != expected:
            bench.errors.append(f"stream: {engine.name} received {received} bytes, expected {expected}")
        return numbers(seconds, received)

    out["remrepl"] = bench.measure("stream: remrepl", lambda: stream(bench.remrepl()))
    out["jupyter"] = bench.measure("stream: jupyter", lambda: stream(bench.jupyter()))
    out["local"] = bench.measure(
        "stream: local python", lambda: numbers(*local_print_floor(code, time.monotonic() + bench.args.timeout))
    )
    out["ratios"] = {
        "remrepl_over_jupyter": ratio(out["remrepl"].get("mb_per_s"), out["jupyter"].get("mb_per_s")),
        "remrepl_over_local": ratio(out["remrepl"].get("mb_per_s"), out["local"].get("mb_per_s")),
    }
    return out


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        complete = "all bytes" if d["complete"] else f"MISSING {s['expected_bytes'] - d['bytes']:,} B"
        return [num(d["seconds"], ".3f", " s"), num(d["mb_per_s"], ",.1f", " MB/s"), complete]

    lines = [
        "",
        f"Streaming: {s['lines']:,} lines of {s['line_chars']} characters ({s['expected_bytes']:,} bytes), "
        "until the run is over and all output is received",
    ]
    lines += table(
        [
            ["", "time", "throughput", "received"],
            ["remrepl", *engine_cells(s["remrepl"], cells, 3)],
            ["jupyter_client + ipykernel", *engine_cells(s["jupyter"], cells, 3)],
            ["local python | pipe", *engine_cells(s["local"], cells, 3)],
        ]
    )
    remrepl_over_local = s["ratios"].get("remrepl_over_local")
    if remrepl_over_local is not None:
        lines.append(f"  remrepl / local python | pipe throughput: {remrepl_over_local:.2f}")
    return lines


SECTION = Section(
    name="stream",
    summary="print-heavy code until every byte is in: remrepl vs jupyter, a local python | pipe for scale",
    run=run,
    render=render,
    targets=(
        Target("stream", "remrepl_over_jupyter", ">=", 10.0, "streaming: remrepl throughput / jupyter throughput"),
    ),
    add_arguments=add_arguments,
    quick={"lines": 2000},
)
