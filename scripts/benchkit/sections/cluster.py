"""The ``cluster`` section: ``remrepl.cluster``'s map next to Dask's own ``client.map``
and ``concurrent.futures.ProcessPoolExecutor``, on the same machine with the same number of workers.

  (a) overhead   ITEMS trivial items (``x + 1``): seconds and µs per item. Dask's ``client.map`` (one task
                 per item, ~ms each) runs on at most DASK_ITEMS of them, reported per item. Target for
                 remrepl: <= 50 µs per item.
  (b) sleep      SLEEPS tasks of ``time.sleep(SLEEP)``: efficiency = ideal time (SLEEPS * SLEEP / workers) /
                 wall time, in %. Target for remrepl: >= 95 %.
  (c) gather     results totalling GATHER_MB MB (items of RESULT_MB MB each, made on the workers) gathered
                 back to the caller: MB/s (10^6 bytes/s).

remrepl and Dask run on the same TLS cluster (2 worker processes of one thread each by default; the
scheduler in this process); the process pool has as many processes. Workers import this module through
``sys.path`` (Dask's spawn and the pool's fork pass it on), as ``benchkit.sections.cluster``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

from ..common import JSONDict, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import num, table

TARGETS = (
    Target("cluster", "remrepl_us_per_item", "<=", 50.0, "cluster map: remrepl overhead per trivial item (µs)"),
    Target("cluster", "remrepl_sleep_efficiency_pct", ">=", 95.0, "cluster map: remrepl efficiency on sleep tasks (%)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster section")
    group.add_argument("--cluster-workers", type=positive_int, default=2, help="worker processes (default 2)")
    group.add_argument("--cluster-items", type=positive_int, default=100_000, help="trivial items (default 100000)")
    group.add_argument("--cluster-dask-items", type=positive_int, default=3_000, help="of those for client.map")
    group.add_argument("--cluster-sleeps", type=positive_int, default=200, help="sleep tasks (default 200)")
    group.add_argument("--cluster-sleep", type=float, default=0.05, help="seconds each sleeps (default 0.05)")
    group.add_argument("--cluster-gather-mb", type=positive_int, default=1000, help="result set MB (default 1000)")
    group.add_argument("--cluster-result-mb", type=positive_int, default=10, help="MB per result (default 10)")


# --- what the workers run ------------------------------------------------------------------------


def inc(x: int) -> int:
    return x + 1


def nap(seconds: float) -> None:
    time.sleep(seconds)


def blob(megabytes: int) -> bytes:
    return bytes(megabytes * 1_000_000)


# --- the section ---------------------------------------------------------------------------------


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = run()
    return time.perf_counter() - began, value


def run(bench: Bench) -> JSONDict:
    import remrepl

    a = bench.args
    workers = a.cluster_workers
    items = list(range(a.cluster_items))
    dask_items = items[: a.cluster_dask_items]
    sleeps = [a.cluster_sleep] * a.cluster_sleeps
    count = max(1, a.cluster_gather_mb // a.cluster_result_mb)
    sizes = [a.cluster_result_mb] * count
    ideal = len(sleeps) * a.cluster_sleep / workers
    result: JSONDict = {
        "workers": workers,
        "items": len(items),
        "dask_items": len(dask_items),
        "sleeps": len(sleeps),
        "sleep_s": a.cluster_sleep,
        "ideal_sleep_s": ideal,
        "gather_bytes": count * a.cluster_result_mb * 1_000_000,
    }

    def overhead(name: str, n: int, run: Callable[[], list[Any]]) -> JSONDict:
        seconds, out = _timed(run)
        if out != [x + 1 for x in range(n)]:
            raise RuntimeError(f"{name}: wrong results")
        return {"seconds": seconds, "us_per_item": seconds / n * 1e6, "items": n}

    def efficiency(run: Callable[[], list[Any]]) -> JSONDict:
        seconds, out = _timed(run)
        if len(out) != len(sleeps):
            raise RuntimeError("missing results")
        return {"seconds": seconds, "efficiency_pct": 100 * ideal / seconds}

    def gather(run: Callable[[], list[bytes]]) -> JSONDict:
        seconds, out = _timed(run)
        got = sum(len(b) for b in out)
        if got != result["gather_bytes"]:
            raise RuntimeError(f"gathered {got} bytes, not {result['gather_bytes']}")
        del out
        return {"seconds": seconds, "mb_per_s": got / seconds / 1e6}

    started, cl = _timed(lambda: remrepl.cluster(workers=workers))
    result["start_s"] = started
    with cl:
        client = cl.client
        cl.map(inc, range(10), progress=False)  # warm up: workers import what the functions need
        result["remrepl"] = {
            "overhead": bench.measure("cluster: remrepl map, trivial items", lambda: overhead(
                "remrepl", len(items), lambda: cl.map(inc, items, progress=False))),
            "sleep": bench.measure("cluster: remrepl map, sleeps", lambda: efficiency(
                lambda: cl.map(nap, sleeps, progress=False))),
            "gather": bench.measure("cluster: remrepl map, gather", lambda: gather(
                lambda: cl.map(blob, sizes, progress=False))),
        }  # fmt: skip
        result["dask"] = {
            "overhead": bench.measure("cluster: dask client.map, trivial items", lambda: overhead(
                "dask", len(dask_items), lambda: client.gather(client.map(inc, dask_items, pure=False)))),
            "sleep": bench.measure("cluster: dask client.map, sleeps", lambda: efficiency(
                lambda: client.gather(client.map(nap, sleeps, pure=False)))),
            "gather": bench.measure("cluster: dask client.map, gather", lambda: gather(
                lambda: client.gather(client.map(blob, sizes, pure=False)))),
        }  # fmt: skip
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        list(pool.map(inc, range(workers * 2)))  # the processes are up
        result["process_pool"] = {
            "overhead": bench.measure("cluster: ProcessPoolExecutor.map, trivial items", lambda: overhead(
                "pool", len(items), lambda: list(pool.map(inc, items)))),
            "sleep": bench.measure("cluster: ProcessPoolExecutor.map, sleeps", lambda: efficiency(
                lambda: list(pool.map(nap, sleeps)))),
            "gather": bench.measure("cluster: ProcessPoolExecutor.map, gather", lambda: gather(
                lambda: list(pool.map(blob, sizes)))),
        }  # fmt: skip
    ours, dask, pool_ = result["remrepl"], result["dask"], result["process_pool"]
    result["ratios"] = {
        "remrepl_us_per_item": ours["overhead"].get("us_per_item"),
        "remrepl_sleep_efficiency_pct": ours["sleep"].get("efficiency_pct"),
        "dask_over_remrepl_per_item": ratio(dask["overhead"].get("us_per_item"), ours["overhead"].get("us_per_item")),
        "pool_over_remrepl_per_item": ratio(pool_["overhead"].get("us_per_item"), ours["overhead"].get("us_per_item")),
        "remrepl_over_dask_gather": ratio(ours["gather"].get("mb_per_s"), dask["gather"].get("mb_per_s")),
    }
    return result


def render(s: JSONDict) -> list[str]:
    def cells(d: JSONDict) -> list[str]:
        row = []
        for key, fmt, unit in (("overhead", ",.1f", " µs/item"), ("sleep", ".1f", " %"), ("gather", ",.0f", " MB/s")):
            part = d.get(key, {})
            value = part.get({"overhead": "us_per_item", "sleep": "efficiency_pct", "gather": "mb_per_s"}[key])
            row.append(num(value, fmt, unit) if "error" not in part else "ERROR")
        return row

    return [
        "",
        f"Cluster map on {s['workers']} workers (cluster start {num(s.get('start_s'), '.2f', ' s')}): "
        f"(a) {s['items']:,} trivial items (Dask: {s['dask_items']:,}); (b) {s['sleeps']} x sleep({s['sleep_s']:g}), "
        f"ideal {s['ideal_sleep_s']:.2f} s; (c) {s['gather_bytes'] / 1e6:,.0f} MB of results gathered",
        *table(
            [
                ["", "(a) overhead", "(b) efficiency", "(c) gather"],
                ["remrepl cl.map", *cells(s["remrepl"])],
                ["dask client.map", *cells(s["dask"])],
                ["ProcessPoolExecutor.map", *cells(s["process_pool"])],
            ]
        ),
    ]


SECTION = Section(
    name="cluster",
    summary="remrepl.cluster map vs Dask client.map vs ProcessPoolExecutor.map on the same workers",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={
        "cluster_items": 500,
        "cluster_dask_items": 20,
        "cluster_sleeps": 6,
        "cluster_sleep": 0.01,
        "cluster_gather_mb": 4,
        "cluster_result_mb": 1,
    },
)
