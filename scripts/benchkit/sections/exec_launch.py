"""The ``exec`` section: wall time of ``remrepl exec --launch hi.py`` (``print("hi")``) from start to exit.

Median of RUNS runs (``--exec-runs``) after a warm-up, next to ``python -c 'print("hi")'`` (the floor).
Target < 1 s.
"""

from __future__ import annotations

import statistics
import sys

from ..commands import remrepl_command, timed_command
from ..common import JSONDict, ratio
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table

EXEC_SCRIPT = 'print("hi")\n'


def run(bench: Bench) -> JSONDict:
    runs = bench.args.exec_runs
    script = bench.workdir / "hi.py"
    script.write_text(EXEC_SCRIPT)
    remrepl_cmd = [*remrepl_command(), "exec", "--launch", str(script)]
    python_cmd = [sys.executable, "-c", EXEC_SCRIPT.strip()]
    out: JSONDict = {"runs": runs, "script": EXEC_SCRIPT.strip()}

    def timed(cmd: list[str]) -> JSONDict:
        timed_command(cmd, bench.args.timeout, b"hi\n")  # warm-up: file caches, and checks the output
        times = [timed_command(cmd, bench.args.timeout, b"hi\n") for _ in range(runs)]
        return {"command": cmd, "median_s": statistics.median(times), "max_s": max(times), "runs_s": times}

    out["remrepl"] = bench.measure("exec: remrepl exec --launch", lambda: timed(remrepl_cmd))
    out["python"] = bench.measure("exec: python -c", lambda: timed(python_cmd))
    out["ratios"] = {
        "remrepl_median_s": out["remrepl"].get("median_s"),
        "remrepl_over_python": ratio(out["remrepl"].get("median_s"), out["python"].get("median_s")),
    }
    return out


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        return [num(d["median_s"], ".3f", " s"), num(d["max_s"], ".3f", " s")]

    lines = ["", f"One-line script ({s['script']}), wall time start to exit, {s['runs']} runs after a warm-up"]
    lines += table(
        [
            ["", "median", "max"],
            ["remrepl exec --launch hi.py", *engine_cells(s["remrepl"], cells, 2)],
            ["python -c (the floor)", *engine_cells(s["python"], cells, 2)],
        ]
    )
    # the same line both ways, in the same run: how many times python's own start-up a launch costs
    lines.append(f"  remrepl / python: {num(s['ratios']['remrepl_over_python'], '.1f', 'x')}")
    return lines


SECTION = Section(
    name="exec",
    summary="`remrepl exec --launch hi.py` start to exit, next to `python -c`",
    run=run,
    render=render,
    targets=(Target("exec", "remrepl_median_s", "<", 1.0, "`remrepl exec --launch` wall time, median (s)"),),
    quick={"exec_runs": 1},
)
