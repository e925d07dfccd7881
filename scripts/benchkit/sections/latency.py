"""The ``latency`` section: remote code prints ``time.time()`` then sleeps, SAMPLES times.

The client notes when each line arrives: delay = arrival - printed stamp (same machine, same clock).
Median and max in ms (target for remrepl: < 50 ms).
"""

from __future__ import annotations

import argparse

from ..common import JSONDict, delay_summary, positive_int
from ..engines import JupyterEngine, RemreplEngine, latency_code
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("latency section")
    group.add_argument("--latency-samples", type=positive_int, default=50, help="stamped lines printed (default 50)")
    group.add_argument(
        "--latency-interval", type=float, default=0.05, help="sleep between stamped lines (default 0.05 s)"
    )


def run(bench: Bench) -> JSONDict:
    samples, interval = bench.args.latency_samples, bench.args.latency_interval
    code = latency_code(samples, interval)
    out: JSONDict = {"samples": samples, "interval_s": interval}

    def delays(engine: RemreplEngine | JupyterEngine) -> JSONDict:
        clock = engine.latency(code, bench.deadline(f"{engine.name} latency"))
        summary = delay_summary(clock.delays, samples)
        if not summary["complete"] or clock.garbage:
            bench.errors.append(
                f"latency: {engine.name} got {len(clock.delays)} stamped lines of {samples}"
                + (f", and unparsable lines {clock.garbage[:3]!r}" if clock.garbage else "")
            )
        return summary

    out["remrepl"] = bench.measure("latency: remrepl", lambda: delays(bench.remrepl()))
    out["jupyter"] = bench.measure("latency: jupyter", lambda: delays(bench.jupyter()))
    out["ratios"] = {
        "remrepl_median_ms": out["remrepl"].get("median_ms"),
        "remrepl_max_ms": out["remrepl"].get("max_ms"),
    }
    return out


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        return [
            num(d["median_ms"], ".1f", " ms"),
            num(d["max_ms"], ".1f", " ms"),
            f"{d['lines']}/{d['expected_lines']} lines",
        ]

    lines = ["", f"Print-to-client delay: print(time.time()) then sleep {s['interval_s']:g} s, {s['samples']} times"]
    lines += table(
        [
            ["", "median", "max", "received"],
            ["remrepl", *engine_cells(s["remrepl"], cells, 3)],
            ["jupyter_client + ipykernel", *engine_cells(s["jupyter"], cells, 3)],
        ]
    )
    return lines


SECTION = Section(
    name="latency",
    summary="how late a printed line reaches the client, remrepl and jupyter",
    run=run,
    render=render,
    targets=(
        Target("latency", "remrepl_median_ms", "<", 50.0, "print-to-client delay, remrepl median (ms)"),
        Target("latency", "remrepl_max_ms", "<", 50.0, "print-to-client delay, remrepl max (ms)"),
    ),
    add_arguments=add_arguments,
    quick={"latency_samples": 5},
)
