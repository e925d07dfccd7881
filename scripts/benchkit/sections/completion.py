"""The ``completion`` section: completion round trips, idle and while the kernel is busy.

For each contender, the time from sending a completion request for ``collections.Ord`` to having the reply's
candidates in hand (what the prompt's menu shows), on loopback:

  remrepl  ``Session.complete`` (the side connection; the kernel's side thread answers, jedi installed).
           Idle, then while the kernel's main thread spins in ``while True: pass`` (interrupted after).
  jupyter  jupyter_client's ``complete`` (a ``complete_request`` on the shell channel) to ipykernel, idle;
           then while a run of BUSY seconds spins: ipykernel answers the shell channel from the thread that
           runs the code, so the reply comes when the run ends (fewer samples: each costs BUSY seconds).

Targets: remrepl median < 20 ms idle and < 50 ms busy.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ..common import BenchError, Deadline, JSONDict, percentile, positive_int, ratio
from ..engines import JupyterEngine, RemreplEngine
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table

SETUP = "import collections"
CODE = "collections.Ord"
EXPECTED = "OrderedDict"
SPIN = "while True: pass"

TARGETS = (
    Target("completion", "remrepl_idle_median_ms", "<", 20.0, "completion round trip, remrepl idle median (ms)"),
    Target("completion", "remrepl_busy_median_ms", "<", 50.0, "completion round trip, remrepl busy kernel median (ms)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("completion section")
    group.add_argument("--completions", type=positive_int, default=200, help="completions timed (default 200)")
    group.add_argument(
        "--busy-runs", type=positive_int, default=3, help="jupyter completions during a busy run (default 3)"
    )
    group.add_argument("--busy-seconds", type=float, default=1.0, help="length of each busy jupyter run (default 1 s)")


def summary(seconds: list[float]) -> JSONDict:
    return {
        "samples": len(seconds),
        "median_ms": statistics.median(seconds) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "max_ms": max(seconds) * 1e3,
    }


def _remrepl_samples(engine: RemreplEngine, n: int, warmup: int, deadline: Deadline) -> list[float]:
    samples = []
    for i in range(warmup + n):
        deadline.remaining()
        start = time.perf_counter()
        reply = engine.session.complete(CODE, timeout=deadline.remaining())
        elapsed = time.perf_counter() - start
        if not any(m.endswith(EXPECTED) for m in reply.matches):
            raise BenchError(f"remrepl: completing {CODE!r} gave {reply.matches[:5]}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def remrepl_completion(engine: RemreplEngine, n: int, warmup: int, deadline: Deadline) -> JSONDict:
    if not engine.session.run(SETUP, timeout=deadline.remaining()).ok:
        raise BenchError(f"remrepl: {SETUP!r} failed")
    idle = _remrepl_samples(engine, n, warmup, deadline)
    execution = engine.session.execute(SPIN)
    try:
        # the warm-up requests also make sure the loop has started before the timed ones
        busy = _remrepl_samples(engine, n, max(warmup, 3), deadline)
        if execution.done is not None:
            raise BenchError("remrepl: the busy loop ended early")
    finally:
        execution.interrupt()
        execution.wait(deadline.remaining())
    return {"idle": summary(idle), "busy": summary(busy)}


def _jupyter_complete(engine: JupyterEngine, deadline: Deadline) -> float:
    start = time.perf_counter()
    msg_id: str = engine.kc.complete(CODE, len(CODE))
    while True:  # bounded by the deadline
        msg: JSONDict = engine.kc.get_shell_msg(timeout=deadline.remaining())
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "complete_reply":
            elapsed = time.perf_counter() - start
            if not any(m.endswith(EXPECTED) for m in msg["content"].get("matches", [])):
                raise BenchError(f"jupyter: completing {CODE!r} gave {msg['content'].get('matches', [])[:5]}")
            return elapsed


def jupyter_completion(
    engine: JupyterEngine, n: int, warmup: int, busy_runs: int, busy_seconds: float, deadline: Deadline
) -> JSONDict:
    engine.execute_and_wait(SETUP, deadline)
    idle = [_jupyter_complete(engine, deadline) for _ in range(warmup + n)][warmup:]
    busy = []
    spin = f"import time as _t\n_end = _t.time() + {busy_seconds!r}\nwhile _t.time() < _end: pass\n"
    for _ in range(busy_runs):
        msg_id: str = engine.kc.execute(spin)
        time.sleep(min(0.1, busy_seconds / 4))  # the run has started
        busy.append(_jupyter_complete(engine, deadline))  # reads past the run's execute_reply
        engine.until_idle(msg_id, deadline)
    return {"idle": summary(idle), "busy": {**summary(busy), "run_seconds": busy_seconds}}


def run(bench: Bench) -> JSONDict:
    args = bench.args
    n, warmup = args.completions, args.warmup
    out: JSONDict = {"code": CODE, "iterations": n, "warmup": warmup}
    out["remrepl"] = bench.measure(
        "completion: remrepl",
        lambda: remrepl_completion(bench.remrepl(), n, warmup, bench.deadline("remrepl completions")),
    )
    out["jupyter"] = bench.measure(
        "completion: jupyter",
        lambda: jupyter_completion(
            bench.jupyter(), n, warmup, args.busy_runs, args.busy_seconds, bench.deadline("jupyter completions")
        ),
    )

    def median(engine: str, state: str) -> float | None:
        value = out[engine].get(state, {}).get("median_ms")
        return value if isinstance(value, float) else None

    out["ratios"] = {
        "remrepl_idle_median_ms": median("remrepl", "idle"),
        "remrepl_busy_median_ms": median("remrepl", "busy"),
        "jupyter_over_remrepl_idle": ratio(median("jupyter", "idle"), median("remrepl", "idle")),
        "jupyter_over_remrepl_busy": ratio(median("jupyter", "busy"), median("remrepl", "busy")),
    }
    return out


def render(s: JSONDict) -> list[str]:

    def row(d: JSONDict) -> list[str]:
        out = []
        for state in ("idle", "busy"):
            part = d.get(state, {})
            out += [num(part.get("median_ms"), ".2f", " ms"), num(part.get("p99_ms"), ".2f", " ms")]
        return out

    lines = [
        "",
        f"Completion round trip: `{s['code']}` until the candidates are in hand ({s['iterations']} requests after "
        f"{s['warmup']} warm-up; busy: the kernel's main thread spinning)",
    ]
    lines += table(
        [
            ["", "idle median", "idle p99", "busy median", "busy p99"],
            ["remrepl (side connection + kernel thread)", *engine_cells(s["remrepl"], row, 4)],
            ["jupyter_client + ipykernel (complete_request)", *engine_cells(s["jupyter"], row, 4)],
        ]
    )
    busy = s["jupyter"].get("busy", {})
    if "run_seconds" in busy:
        lines.append(
            f"  (jupyter busy: {busy['samples']} requests, each sent during a {busy['run_seconds']:g} s run: "
            "ipykernel answers when the run ends)"
        )
    return lines


SECTION = Section(
    name="completion",
    summary="completion round trips, idle and while the kernel is busy, remrepl vs jupyter",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"completions": 5, "busy_runs": 1, "busy_seconds": 0.2, "warmup": 5},
)
