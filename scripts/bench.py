#!/usr/bin/env python3
"""Benchmark remrepl side by side with jupyter_client + ipykernel and a bare pyzmq CURVE echo.

Sections, each measured in the same run for every contender; each is a module in
``scripts/benchkit/sections/`` (the registry, in this order; ``--list`` prints it):

  roundtrip  Execute ``1+1`` and wait for its reply, N times after a warm-up (median and p95, in µs):
             remrepl (``remrepl.launch()``: local server, CURVE + ZAP, supervisor + kernel process),
             jupyter_client + ipykernel (``execute`` until the ``execute_reply`` on the shell channel),
             a bare pyzmq DEALER/ROUTER CURVE echo of a message the size of remrepl's request, with the
             echo server in another process, and rpyc's classic ``conn.eval('1+1')`` (unencrypted TCP),
             interleaved in blocks. Ratios: remrepl/echo (target <= 3x), remrepl/rpyc and
             jupyter/remrepl (target >= 20x).
  stream     Remote code prints LINES lines of 50 characters (51 bytes with the newline); time from
             sending the code until the run is over and every byte has reached the client (checked
             against the expected count). Seconds, MB/s (10^6 bytes/s), remrepl/jupyter (target >= 10x).
             For scale, the same loop in a local ``python`` whose stdout is a pipe read by the bench.
  latency    Remote code prints ``time.time()`` then sleeps, SAMPLES times; the client notes when each
             line arrives: delay = arrival - printed stamp (same machine, same clock). Median and max in
             ms (target for remrepl: < 50 ms).
  transfer   A file of MB megabytes uploaded then downloaded: remrepl (Session.upload/download) vs
             paramiko SFTP put/get against a private sshd. Target >= 2x.
  ssh        remrepl over a private sshd on loopback: ``exec --launch=ssh://`` vs
             a paramiko connect + exec floor plus the server's start-up; ``1+1`` via the tunnel vs --direct.
  sync       A 10,000-file, 100 MB project synced over a private sshd: ``Session.sync_workdir`` vs
             ``rsync -a -e "ssh -F CONFIG"``: first sync, unchanged re-sync, one file changed; ratios
             rsync/remrepl (targets: >= 1 for the unchanged re-sync and the first sync).
  packages   ``packages.install.install()`` into fresh venvs with uv vs pip, from a local wheelhouse;
             the stamp's skip of a second install (target: <= 1 s).
  exec       Wall time of ``remrepl exec --launch hi.py`` (``print("hi")``) from start to exit, median of
             RUNS runs, next to ``python -c 'print("hi")'`` (the floor). Target < 1 s.
  completion Completion round trip (request to candidates in hand), idle and while the kernel's main thread
             is busy, next to jupyter_client's complete_request. Targets:
             remrepl median < 20 ms idle, < 50 ms busy.
  cluster    ``remrepl.cluster`` map vs Dask's ``client.map`` vs ``ProcessPoolExecutor.map`` on 2 workers:
             per-item overhead, efficiency on sleep tasks, gather throughput.
  ec2        ``up`` and ``down`` of an EC2 head node on a moto server + a loopback sshd, stage by stage
             no stage waits a fixed time.
  ec2scale   ``remrepl.cluster(ec2=...)`` with 1 and with N (20) workers on moto + a loopback sshd, each
             set up with the head's synced tree and the project's packages, then a map; ratio N/1
             (target <= 2x), and the CPU the head and the workers spent (on 2 cores, their floor).

Run it (the ``bench`` extra installs jupyter_client, ipykernel and rpyc: ``pip install -e '.[bench]'``):

    python scripts/bench.py                          # every section, as a table
    python scripts/bench.py roundtrip stream         # only some sections
    python scripts/bench.py --json                   # JSON: the same numbers, ratios, targets and "met"
    python scripts/bench.py --iterations 1000 --lines 500000 --latency-samples 100 --exec-runs 9
    python scripts/bench.py sync packages            # the workdir sync vs rsync, uv vs pip
    python scripts/bench.py --quick                  # every section at tiny sizes (a smoke test)
    python scripts/bench.py --json > r.json; python scripts/bench.py --render r.json   # table of a saved run

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
import signal
import sys
import time
from pathlib import Path
from types import TracebackType

import zmq
from benchkit.common import JSONDict, positive_int  # scripts/ is on sys.path when this runs
from benchkit.harness import Bench, Target, private_environment
from benchkit.sections import SECTIONS
from benchkit.text import target_lines

TARGETS: tuple[Target, ...] = tuple(t for section in SECTIONS.values() for t in section.targets)
NOT_OPTIONS = ("sections", "json", "quick", "list", "render")  # what meta's "options" leaves out


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
    for dist in ("remrepl", "pyzmq", "jupyter_client", "ipykernel", "rpyc", "distributed"):
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
        "options": {k: v for k, v in vars(args).items() if k not in NOT_OPTIONS},
        "environment": {k: os.environ.get(k) for k in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")},
        "started_at": time.time(),
    }


def render_table(report: JSONDict) -> str:
    m, sections, targets = report["meta"], report["sections"], report["targets"]
    v = m["versions"]
    out = [
        f"remrepl benchmark — Python {m['python']} on {m['platform']}, {m['cpus']} CPUs; remrepl {v['remrepl']}, "
        f"pyzmq {v['pyzmq']} (libzmq {v['libzmq']}), jupyter_client {v['jupyter_client']}, "
        f"ipykernel {v['ipykernel']}, rpyc {v.get('rpyc')}",
    ]
    for name, section in SECTIONS.items():
        if name in sections:
            out += section.render(sections[name])
            out += target_lines(targets, name)
    if report["errors"]:
        out += ["", "Errors:", *[f"  {e}" for e in report["errors"]]]
    met = sum(1 for t in targets.values() if t["met"])
    out += ["", f"{met} of {len(targets)} targets met; {'no errors' if report['ok'] else 'ERRORS (see above)'}"]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Benchmark remrepl against jupyter_client + ipykernel, a bare pyzmq CURVE echo and rpyc.",
    )
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"sections to run: {', '.join(SECTIONS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for every section (a smoke test; explicit options win)"
    )
    parser.add_argument("--render", type=Path, metavar="JSON", help="print the table of a saved --json report")
    parser.add_argument("--iterations", type=positive_int, default=300, help="round trips timed (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed round trips first (default 30)")
    parser.add_argument(
        "--exec-runs", type=positive_int, default=5, help="timed `remrepl exec` runs (exec, ssh; default 5)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="deadline for each measurement, in seconds (default 300)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="deadline for starting a server or kernel (default 60)"
    )
    for section in SECTIONS.values():
        if section.add_arguments is not None:
            section.add_arguments(parser)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.quick:  # the sections' tiny sizes become the defaults: options given explicitly still win
        for section in SECTIONS.values():
            parser.set_defaults(**section.quick)
        args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.warmup < 0 or args.latency_interval < 0 or args.timeout <= 0 or args.start_timeout <= 0:
        parser.error("--warmup and --latency-interval must be >= 0; timeouts must be > 0")
    return args


def run(args: argparse.Namespace) -> JSONDict:
    chosen = [s for s in SECTIONS if not args.sections or s in args.sections]
    results: dict[str, JSONDict] = {}
    with private_environment() as workdir, contextlib.ExitStack() as stack:
        bench = Bench(args, workdir, stack)
        report_meta = meta(args, chosen)
        for name in chosen:
            results[name] = SECTIONS[name].run(bench)
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
    if args.list:
        width = max(len(name) for name in SECTIONS)
        print("\n".join(f"{name.ljust(width)}  {s.summary}" for name, s in SECTIONS.items()))
        return 0
    if args.render is not None:
        report = json.loads(args.render.read_text())
    else:
        with _StopOnSigterm():
            report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
