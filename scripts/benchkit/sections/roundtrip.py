"""The ``roundtrip`` section: execute ``1+1`` and wait for its reply, N times after a warm-up.

Four contenders, measured in the same run and interleaved (blocks of BLOCK round trips each in turn, the
order rotating from round to round), so a change in the machine's load meets them alike:

  remrepl  ``remrepl.launch()``: a local server, CURVE + ZAP, supervisor + kernel process;
  jupyter  jupyter_client + ipykernel: ``execute`` until the ``execute_reply`` on the shell channel;
  echo     a bare pyzmq DEALER/ROUTER CURVE echo of a message the size of remrepl's request, the echo
           server in another process: the floor of one encrypted ZeroMQ round trip from Python;
  rpyc     rpyc's classic server (``SlaveService``) in another process: ``conn.eval('1+1')``,
           unencrypted TCP on 127.0.0.1: a Python RPC peer without encryption or a kernel process.

Medians and p95 in µs. Ratios: remrepl/echo (target <= 3x), remrepl/rpyc, jupyter/remrepl (target >= 20x).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..common import Deadline, JSONDict, log, positive_int, ratio, timing_summary
from ..engines import ROUNDTRIP_CODE, execute_frames
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table

Timer = Callable[[int, int, Deadline], list[float]]  # (iterations, warmup, deadline) -> seconds each
CONTENDERS = ("remrepl", "jupyter", "echo", "rpyc")
LABELS = {
    "remrepl": "remrepl (launch(), CURVE + ZAP)",
    "jupyter": "jupyter_client + ipykernel",
    "echo": "bare pyzmq CURVE echo ({bytes} B)",
    "rpyc": "rpyc classic conn.eval (plain TCP)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("roundtrip section")
    group.add_argument(
        "--roundtrip-block",
        type=positive_int,
        default=10,
        help="round trips of one contender before the next one's turn (default 10)",
    )


def timers(bench: Bench, frames: list[bytes]) -> dict[str, Callable[[], Timer]]:
    """How to start each contender (on first use) and get its timed round-trip loop."""

    def echo() -> Timer:
        engine = bench.echo()
        return lambda n, warmup, deadline: engine.roundtrip(frames, n, warmup, deadline)

    return {
        "remrepl": lambda: bench.remrepl().roundtrip,
        "jupyter": lambda: bench.jupyter().roundtrip,
        "echo": echo,
        "rpyc": lambda: bench.rpyc().roundtrip,
    }


def run(bench: Bench) -> JSONDict:
    n, warmup = bench.args.iterations, bench.args.warmup
    block = max(1, bench.args.roundtrip_block)
    frames = execute_frames()
    out: JSONDict = {
        "code": ROUNDTRIP_CODE,
        "iterations": n,
        "warmup": warmup,
        "block": block,
        "message_bytes": sum(len(f) for f in frames),
    }
    ready: dict[str, Timer] = {}
    samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    # --timeout bounds each contender's share, as when they ran one after the other
    deadline = Deadline(bench.args.timeout * len(CONTENDERS), "round trips")
    for name, start in timers(bench, frames).items():
        log(f"roundtrip: {name} warm-up")
        try:
            timer = start()
            timer(0, warmup, deadline)
        except Exception as exc:
            out[name] = bench.failed(f"roundtrip: {name}", exc)
        else:
            ready[name] = timer
    log(f"roundtrip: {', '.join(ready)} interleaved, {block} at a time")
    for turn, first in enumerate(range(0, n, block)):
        size = min(block, n - first)
        order = list(ready)
        order = order[turn % len(order) :] + order[: turn % len(order)] if order else order
        for name in order:
            try:
                samples[name] += ready[name](size, 0, deadline)
            except Exception as exc:
                out[name] = bench.failed(f"roundtrip: {name}", exc)
                del ready[name]
    for name in ready:
        out[name] = timing_summary(samples[name])
    medians = {name: out[name].get("median_us") for name in CONTENDERS}
    out["ratios"] = {
        "remrepl_over_echo": ratio(medians["remrepl"], medians["echo"]),
        "jupyter_over_remrepl": ratio(medians["jupyter"], medians["remrepl"]),
        "remrepl_over_rpyc": ratio(medians["remrepl"], medians["rpyc"]),
        "rpyc_over_echo": ratio(medians["rpyc"], medians["echo"]),
    }
    return out


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        return [num(d["median_us"], ",.0f", " µs"), num(d["p95_us"], ",.0f", " µs"), num(d["min_us"], ",.0f", " µs")]

    lines = [
        "",
        f"Round trip: execute `{s['code']}` until its reply ({s['iterations']} iterations after "
        f"{s['warmup']} warm-up, interleaved {s.get('block', s['iterations'])} at a time)",
    ]
    rows = [["", "median", "p95", "min"]]
    for name in CONTENDERS:
        if name in s:  # a report from before rpyc joined has no "rpyc"
            rows.append([LABELS[name].format(bytes=s["message_bytes"]), *engine_cells(s[name], cells, 3)])
    lines += table(rows)
    r = s["ratios"]
    lines.append(
        f"  medians: remrepl / echo {num(r.get('remrepl_over_echo'), '.2f', 'x')}, "
        f"remrepl / rpyc {num(r.get('remrepl_over_rpyc'), '.2f', 'x')}, "
        f"jupyter / remrepl {num(r.get('jupyter_over_remrepl'), '.2f', 'x')}, "
        f"rpyc / echo {num(r.get('rpyc_over_echo'), '.2f', 'x')}"
    )
    return lines


SECTION = Section(
    name="roundtrip",
    summary="execute 1+1 until its reply: remrepl, jupyter, a bare CURVE echo and rpyc, interleaved",
    run=run,
    render=render,
    targets=(
        Target("roundtrip", "remrepl_over_echo", "<=", 3.0, "round trip: remrepl median / bare CURVE echo median"),
        Target("roundtrip", "jupyter_over_remrepl", ">=", 20.0, "round trip: jupyter median / remrepl median"),
    ),
    add_arguments=add_arguments,
    quick={"iterations": 20, "warmup": 5},
)
