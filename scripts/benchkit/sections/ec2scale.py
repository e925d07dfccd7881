"""The ``ec2scale`` section: ``remrepl.cluster(ec2=...)`` with 1 worker and with N, set up alike.

The head is this process, set up as the ``head`` fixture of tests/cluster/test_ec2.py does
(``scripts/testec2.py``): a moto server on 127.0.0.1, the head's ``REMREPL_EC2_*`` variables, worker
instances whose private addresses an ssh_config maps to one loopback sshd. The head has a synced
project (a real ``Session.sync_workdir`` to a local server) whose ``requirements.txt`` installs a package
from a wheelhouse inside the tree (``--no-index --find-links wheels``), so every worker runs both
plugins before the first task: ``WorkdirPlugin`` unpacks the tree from its archive (the workers are
processes on this machine, so each starts in a private mount namespace where a tmpfs hides the head's
copies: ``unshare -m``, root only; without it they use the copy in place, and the table says so), and ``PackagesPlugin``
installs the package into the workers' interpreter (a fresh venv each run that sees the bench's own
packages through a ``.pth``; all N workers share it and its stamp, as N processes on one machine must).

Timed: ``remrepl.cluster(ec2=dict(workers=N, processes=1, ...))`` until it returns (instances running,
workers connected, both plugins set up on each), then a map of 4·N trivial tasks; ``close()`` apart.
Each worker is one single-threaded process. Ratio: the time for N over the time for 1 (target <= 2x:
the workers are set up in parallel, not one by one). Medians of ``--ec2scale-runs`` runs, the sizes
alternating. On a 2-CPU machine the N worker processes share 2 cores: their CPU work (imports, TLS,
pip) cannot overlap as it would on N instances, so a ratio above 2x is not by itself a serial step;
the section logs each worker's stages (``--ec2scale-log``) to tell the two apart.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testhosts import SSHD, SSHHosts

from ..common import BenchError, JSONDict, log, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import num
from .ec2 import moto_server
from .packages import build_wheel

TARGETS = (
    Target("ec2scale", "many_over_one", "<=", 2.0, "N EC2 workers started (packages, workdir) + a map / 1 worker"),
)
CLUSTER = "bench"
OWNER = "arn:aws:iam::123456789012:user/bench"
PACKAGE = "remrepl_benchpkg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ec2scale section")
    group.add_argument("--ec2scale-workers", type=positive_int, default=20, help="workers of the large cluster (20)")
    group.add_argument("--ec2scale-runs", type=positive_int, default=3, help="timed runs of each size (default 3)")
    group.add_argument(
        "--ec2scale-log", type=Path, default=None, help="write remrepl.cluster's log, with timestamps, here"
    )


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def make_project(root: Path) -> Path:
    """A small project: a module the tasks import, a data file, a wheel and a requirements file for it."""
    root.mkdir(parents=True)
    (root / "work.py").write_text(
        f"import os\n\n\ndef task(i):\n    import {PACKAGE}.m0  # installed on the workers only\n\n"
        f"    return (i, {PACKAGE}.m0.f0(42), open('data.txt').read().strip(), os.getcwd())\n"
    )
    (root / "data.txt").write_text("data\n")
    build_wheel(root / "wheels", PACKAGE, "1.0", 1, ())
    (root / "requirements.txt").write_text(f"--no-index\n--find-links wheels\n{PACKAGE}==1.0\n")
    return root


def synced_copy(root: Path) -> Path:
    """The project synced to a local server, as ``--workdir`` would; its packages recorded beside it (what
    the head does once it installed them)."""
    from remrepl.launchers import LocalLauncher
    from remrepl.packages import project

    with LocalLauncher() as launcher, launcher.connect() as session:
        copy = Path(session.sync_workdir(root).remote)
    project.save(copy, project.for_project(copy))
    return copy


def worker_python(where: Path, hide: Path | None) -> str:
    """A fresh venv for the workers (the packages go in there), seeing this interpreter's packages, behind
    a wrapper that starts it in a mount namespace where ``hide`` (the head's synced copies) is empty."""
    if where.exists():
        shutil.rmtree(where)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    ours = sysconfig.get_paths()["purelib"]  # addsitedir: the editable remrepl's .pth works there too
    (Path(found.stdout.strip()) / "bench-parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    if hide is None:  # the workers see the head's copy: WorkdirPlugin's shared path
        return str(venv / "bin" / "python")
    wrapper = where / "python"
    inner = 'mount -t tmpfs tmpfs "$0" && exec "$@"'
    wrapper.write_text(
        f"#!/bin/sh\nexec unshare -m sh -c {shlex.quote(inner)} {shlex.quote(str(hide))} "
        f'{shlex.quote(str(venv / "bin" / "python"))} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def hiding_works(where: Path) -> str | None:
    """Why the workers cannot be kept from the head's copies here (None: they can)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "seen").write_text("")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs tmpfs "$0" && ls -A "$0"', str(where)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0 or done.stdout.strip():
        return f"unshare -m + mount tmpfs failed (needs root): {done.stderr.strip()[-200:]}"
    return None


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system, with their ended children's) of the processes under ``root``, now."""
    parent, spent = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(entry)] = int(fields[1])
            spent[int(entry)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    total = 0
    for pid in parent:
        up, hops = pid, 0
        while up not in (0, 1, root) and hops < 100:  # bounded: a process tree is not that deep
            up, hops = parent.get(up, 0), hops + 1
        if up == root and pid != root:
            total += spent[pid]
    return total / os.sysconf("SC_CLK_TCK")


def one_run(n: int, options: dict[str, Any], copy: Path, sshd: SSHD, *, archive: bool) -> JSONDict:
    import remrepl

    head_before = sum(os.times()[:2])
    workers_before = tree_cpu(sshd.process.pid)
    begin = time.perf_counter()
    cl = remrepl.cluster(ec2=dict(options, workers=n))
    try:
        started = time.perf_counter()
        work = importlib.import_module("work")  # the project's module: the head imports it from its copy too

        results = cl.map(work.task, range(4 * n), progress=False)
        mapped = time.perf_counter()
        head_cpu = sum(os.times()[:2]) - head_before
        workers_cpu = tree_cpu(sshd.process.pid) - workers_before
        cwds = set(cl.client.run(os.getcwd).values())
    finally:
        closing = time.perf_counter()
        cl.close()
        closed = time.perf_counter()
    if sorted(r[:3] for r in results) != [(i, 42, "data") for i in range(4 * n)]:
        raise BenchError(f"the map over {n} workers returned {results[:3]}...")
    if archive and (str(copy) in cwds or len(cwds) != n):
        raise BenchError(f"the workers did not each unpack the tree (their working directories: {sorted(cwds)})")
    return {
        "workers": n,
        "start_s": started - begin,
        "map_s": mapped - started,
        "total_s": mapped - begin,
        "close_s": closed - closing,
        "head_cpu_s": head_cpu,  # this process: boto3, paramiko, the scheduler, the plugins' registration
        "workers_cpu_s": workers_cpu,  # sshd's sessions and everything under them: the workers, pip/uv
        # the least wall time 2 cores could have done that CPU work in (moto's own CPU left out)
        "cpu_floor_s": (head_cpu + workers_cpu) / (os.cpu_count() or 1),
    }


def run(bench: Bench) -> JSONDict:
    args = bench.args
    many, runs = args.ec2scale_workers, args.ec2scale_runs
    out: JSONDict = {"workers": many, "runs": runs, "load_before": [round(x, 2) for x in os.getloadavg()]}
    root = bench.workdir / "ec2scale"
    why = hiding_works(root / "probe")
    out["workdir_path"] = "archive" if why is None else f"shared ({why})"
    if why is not None:
        log(f"ec2scale: the workers will use the head's copy in place: {why}")
    handler = None
    if args.ec2scale_log is not None:
        handler = logging.FileHandler(args.ec2scale_log)
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(threadName)s %(message)s", "%H:%M:%S"))
        logging.getLogger("remrepl").addHandler(handler)
        logging.getLogger("remrepl").setLevel(logging.DEBUG)
    remote_env = {"REMREPL_STATE_DIR": str(root / "remote-state")}
    try:
        with moto_server(root) as endpoint, SSHHosts(root / "ssh", set_env=remote_env) as hosts:
            log(f"ec2scale: moto at {endpoint}")
            out["measured"] = bench.measure(
                "ec2scale: 1 worker vs many", lambda: _measure(bench, hosts, root, archive=why is None)
            )
    finally:
        if handler is not None:
            logging.getLogger("remrepl").removeHandler(handler)
            handler.close()
    measured = out["measured"]
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out["ratios"] = {
        "many_over_one": ratio(measured.get("many_total_s"), measured.get("one_total_s")),
        # (no target) near 1: every core was busy the whole time, no step waited for another one by one
        "many_over_cpu_floor": ratio(measured.get("many_total_s"), measured.get("many_cpu_floor_s")),
    }
    return out


def _measure(bench: Bench, hosts: SSHHosts, root: Path, *, archive: bool) -> JSONDict:
    import testec2

    from remrepl.workdir.store import store_dir

    args = bench.args
    many, runs = args.ec2scale_workers, args.ec2scale_runs
    sshd: SSHD = hosts.start("workers")
    settings = testec2.head_settings(cluster=CLUSTER, owner=OWNER)
    copy = synced_copy(make_project(root / "project"))
    head_env = {**settings.environment, "REMREPL_WORKDIR": str(copy)}
    os.environ.pop("REMREPL_EC2_INSTANCE_ID", None)
    stamps = root / "remote-state" / "packages"
    results: list[JSONDict] = []
    with environment(head_env):
        sys.path.insert(0, str(copy))  # the head imports the project's module from its copy
        try:
            order = [1, many] * (runs + 1)  # the first pair warms caches (moto, imports): not counted
            for number, n in enumerate(order):
                shutil.rmtree(stamps, ignore_errors=True)  # every run installs the packages
                options = {
                    "instance_type": "t3.medium",
                    "processes": 1,
                    "threads": 1,
                    "bootstrap": False,
                    "python": worker_python(root / "workers", store_dir() if archive else None),
                    "scheduler_host": "127.0.0.1",
                    "ssh_config": str(testec2.worker_ssh_config(root / "ssh_config", sshd)),
                    "on_lost_scheduler": "true",  # (the dead man's switch: harmless here)
                    "key_source": lambda: testec2.authorize(sshd),
                    "ready_timeout": bench.args.timeout,
                }
                result = one_run(n, options, copy, sshd, archive=archive)
                log(f"ec2scale: {n} workers: {result['total_s']:.2f} s (+ close {result['close_s']:.2f} s)")
                if number >= 2:
                    results.append(result)
        finally:
            sys.path.remove(str(copy))
            sys.modules.pop("work", None)
    summary: JSONDict = {"runs": results}
    for label, n in (("one", 1), ("many", many)):
        mine = [r for r in results if r["workers"] == n]
        for key in ("start_s", "map_s", "total_s", "close_s", "head_cpu_s", "workers_cpu_s", "cpu_floor_s"):
            summary[f"{label}_{key}"] = statistics.median(r[key] for r in mine)
    return summary


ROWS = (
    ("start_s", "cluster() returns"),
    ("map_s", "map of 4 tasks a worker"),
    ("total_s", "both (the target's ratio)"),
    ("close_s", "close()"),
    ("head_cpu_s", "CPU: the head (start + map)"),
    ("workers_cpu_s", "CPU: workers, sshd, installer"),
    ("cpu_floor_s", "CPU / {cpus} cores (the floor)"),
)


def render(section: JSONDict) -> list[str]:
    m = section.get("measured", {})
    many = section.get("workers")
    lines = [
        "",
        f"EC2 workers on moto + loopback sshd, with packages and workdir: 1 vs {many} "
        f"(medians of {section.get('runs')} runs; load {section.get('load_before')} -> {section.get('load_after')})",
        f"  the workers' tree: {section.get('workdir_path')}",
    ]
    if "error" in m:
        return [*lines, f"  ERROR: {m['error']}"[:200]]
    lines.append(f"  {'':32} {'1 worker':>10} {f'{many} workers':>11} {'ratio':>7}")
    for key, label in ROWS:
        one, big = m.get(f"one_{key}"), m.get(f"many_{key}")
        cells = f"{num(one, '.2f', ' s'):>10} {num(big, '.2f', ' s'):>11} {num(ratio(big, one), '.2f', 'x'):>7}"
        lines.append(f"  {label.format(cpus=os.cpu_count()):32} {cells}")
    floor = section.get("ratios", {}).get("many_over_cpu_floor")
    lines.append(f"  {many} workers' time over their CPU floor {num(floor, '.2f', 'x')} (1: the cores never idled)")
    return lines


SECTION = Section(
    name="ec2scale",
    summary="1 vs N EC2 workers (moto + loopback sshd) started with packages and workdir, and a map",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"ec2scale_workers": 2, "ec2scale_runs": 1},
)
