"""The ``startup`` section: how long ``remrepl --help`` takes, and what it imports on the way.

Wall time from start to exit of ``remrepl --help`` (the console script of this interpreter), RUNS runs
(``--startup-runs``) after a warm-up, interleaved with ``python -c pass`` (the interpreter's own floor) and
``python -c 'import remrepl'`` (the package alone), min and median in ms. Target: median <= 150 ms. Then
one ``python -X importtime`` run of the same entry point: the modules with the biggest import cost (self
and cumulative, in ms), so the cost of each import a command does not need is in the report.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from importlib.metadata import entry_points

from ..common import BenchError, JSONDict, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import num, table

TOP = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("startup section")
    group.add_argument("--startup-runs", type=positive_int, default=20, help="timed runs of each (default 20)")


def entry_point_code() -> str:
    """``python -c`` code that runs the ``remrepl`` console script's entry point, as the script does."""
    (script,) = entry_points(group="console_scripts", name="remrepl")
    module, _, attr = script.value.partition(":")
    return f"import sys; from {module} import {attr} as main; sys.exit(main())"


def timed_run(cmd: list[str], timeout: float) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-300:]!r}")
    return elapsed


def import_times(timeout: float, runs: int) -> JSONDict:
    """``-X importtime`` of ``remrepl --help``, each module's fastest of ``runs`` runs: the biggest imports
    by self time, and the biggest modules from outside remrepl that a remrepl module imports (cumulative:
    with everything they import)."""
    tables = [_import_table(timeout) for _ in range(runs)]
    modules = tables[0]
    for m in modules:
        same = [t_m for t in tables for t_m in t if t_m["module"] == m["module"]]
        m["self_ms"] = min(x["self_ms"] for x in same)
        m["cumulative_ms"] = min(x["cumulative_ms"] for x in same)
    # A module's line comes after those of what it imports: its importer is the next line one level up.
    for i, m in enumerate(modules):
        m["imported_by"] = next((n["module"] for n in modules[i + 1 :] if n["depth"] == m["depth"] - 1), "")
    foreign = [m for m in modules if not m["module"].startswith("remrepl") and m["imported_by"].startswith("remrepl")]
    return {
        "runs": runs,
        "modules": len(modules),
        "total_self_ms": sum(m["self_ms"] for m in modules),
        "top_self": sorted(modules, key=lambda m: -m["self_ms"])[:TOP],
        "top_foreign": sorted(foreign, key=lambda m: -m["cumulative_ms"])[:TOP],
    }


def _import_table(timeout: float) -> list[JSONDict]:
    cmd = [sys.executable, "-X", "importtime", "-c", entry_point_code(), "--help"]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    modules: list[JSONDict] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # nested imports are indented two more spaces
        modules.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us) / 1e3,
                "cumulative_ms": int(cumulative_us) / 1e3,
                "depth": depth,
            }
        )
    if not modules:
        raise BenchError(f"no -X importtime lines from {cmd}: {done.stderr[-300:]!r}")
    return modules


def run(bench: Bench) -> JSONDict:
    from ..commands import remrepl_command

    runs, timeout = bench.args.startup_runs, bench.args.timeout
    commands = {
        "help": [*remrepl_command(), "--help"],
        "python": [sys.executable, "-c", "pass"],
        "import": [sys.executable, "-c", "import remrepl"],
    }
    out: JSONDict = {"runs": runs, "commands": commands}
    times: dict[str, list[float]] = {name: [] for name in commands}

    def interleaved() -> JSONDict:
        for cmd in commands.values():
            timed_run(cmd, timeout)  # warm-up: file caches
        for _ in range(runs):
            for name, cmd in commands.items():
                times[name].append(timed_run(cmd, timeout))
        return {
            name: {"min_ms": min(t) * 1e3, "median_ms": statistics.median(t) * 1e3, "runs_ms": [x * 1e3 for x in t]}
            for name, t in times.items()
        }

    timed = bench.measure("startup: remrepl --help, python -c pass, import remrepl", interleaved)
    for name in commands:
        out[name] = timed.get(name, timed)  # each its numbers, or the shared error
    out["imports"] = bench.measure(
        "startup: python -X importtime remrepl --help", lambda: import_times(timeout, min(runs, 5))
    )
    out["ratios"] = {
        "help_median_ms": out["help"].get("median_ms"),
        "help_over_python": ratio(out["help"].get("median_ms"), out["python"].get("median_ms")),
    }
    return out


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        if "error" in d:
            return [f"ERROR: {d['error']}"[:160], ""]
        return [num(d["min_ms"], ".0f", " ms"), num(d["median_ms"], ".0f", " ms")]

    lines = ["", f"Start-up: start to exit, {s['runs']} runs of each after a warm-up, interleaved"]
    lines += table(
        [
            ["", "min", "median"],
            ["remrepl --help", *cells(s["help"])],
            ["python -c 'import remrepl'", *cells(s["import"])],
            ["python -c pass (the floor)", *cells(s["python"])],
        ]
    )
    imports = s["imports"]
    if "error" in imports:
        return [*lines, f"  imports: ERROR: {imports['error']}"[:200]]
    lines.append(
        f"  `remrepl --help` imports {imports['modules']} modules, {imports['total_self_ms']:.0f} ms of import time "
        f"(each module's fastest of {imports.get('runs', 1)} runs); the biggest that remrepl imports from outside "
        "(cumulative), and the biggest by self time:"
    )
    rows = [["", "cumulative", "imported by", "", "self"]]
    for first, own in zip(imports["top_foreign"][:10], imports["top_self"][:10], strict=False):
        rows.append(
            [
                f"    {first['module']}",
                num(first["cumulative_ms"], ".1f", " ms"),
                first["imported_by"],
                own["module"],
                num(own["self_ms"], ".1f", " ms"),
            ]
        )
    lines += table(rows)
    return lines


SECTION = Section(
    name="startup",
    summary="`remrepl --help` start to exit (next to python -c pass and import remrepl), and its imports",
    run=run,
    render=render,
    targets=(Target("startup", "help_median_ms", "<=", 150.0, "`remrepl --help` wall time, median (ms)"),),
    add_arguments=add_arguments,
    quick={"startup_runs": 3},
)
