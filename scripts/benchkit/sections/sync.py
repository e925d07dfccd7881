"""The ``sync`` section: a project directory synced to a server over SSH, remrepl against rsync.

A generated tree (``--sync-files`` files, ``--sync-mb`` MB in all: sizes from a log-normal spread, a few
large files and many small ones, random bytes, in nested directories; modification times an hour in the
past, as a project's files are) goes to a private OpenSSH sshd on 127.0.0.1 (``scripts/testhosts.py``):

- remrepl: ``Session.sync_workdir(tree, enter=False)`` on a server launched over that sshd
  (``SSHLauncher``, the tunnel), one session for the whole section;
- rsync: ``rsync -a -e "ssh -F CONFIG" TREE/ bench:DEST/`` through the same sshd and ssh_config (each run
  is a new ssh connection, as rsync is used).

Three phases, each timed from the call to its return: ``first`` (nothing on the server: the remote copy
and the client's hash cache are removed first, rsync's destination too), ``unchanged`` (again, nothing
changed) and ``changed`` (one file of the tree rewritten with new bytes of the same size). RUNS runs
(``--sync-runs``), each doing the three phases with both contenders, who goes first alternating from run
to run; medians count. Ratios: rsync time / remrepl time per phase (higher: remrepl faster). Targets:
unchanged >= 1 (at least as fast as rsync), first >= 1 (at least rsync's throughput). After the last run
both copies are compared with the tree, byte for byte.

Skipped (with a reason, not an error) when ``rsync`` or ``/usr/sbin/sshd`` is missing (``bash scripts/test``
installs both).
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common import BenchError, JSONDict, log, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import num, table

MB = 1_000_000
PHASES = ("first", "unchanged", "changed")
SEED = 14
TARGETS = (
    Target("sync", "unchanged_rsync_over_remrepl", ">=", 1.0, "re-sync of an unchanged tree: rsync time / remrepl"),
    Target("sync", "first_rsync_over_remrepl", ">=", 1.0, "first sync: rsync time / remrepl (same bytes)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sync section")
    group.add_argument("--sync-files", type=positive_int, default=10_000, help="files in the tree (default 10000)")
    group.add_argument("--sync-mb", type=positive_int, default=100, help="the tree's size in MB (default 100)")
    group.add_argument(
        "--sync-runs", type=positive_int, default=5, help="runs of the three phases, medians count (default 5)"
    )


def file_sizes(files: int, total: int, rng: random.Random) -> list[int]:
    """``files`` sizes adding up to ``total``: log-normal (median a few kB, a long tail of large files)."""
    raw = [rng.lognormvariate(8.0, 1.8) for _ in range(files)]
    scale = total / sum(raw)
    sizes = [max(1, int(r * scale)) for r in raw]
    sizes[sizes.index(max(sizes))] += total - sum(sizes)  # the rounding goes to the largest file
    return sizes


def make_tree(root: Path, files: int, total: int) -> tuple[list[str], list[int]]:
    """Write the tree under ``root``: (relative paths, sizes). Directories 1 to 4 deep, ~30 files each."""
    rng = random.Random(SEED)
    sizes = file_sizes(files, total, rng)
    dirs = [""]
    paths: list[str] = []
    past = time.time() - 3600  # older than the hash cache's racy window: an ordinary project's files
    for i, size in enumerate(sizes):
        if i % 30 == 0:  # a new directory: below a random existing one, at most 4 deep
            parent = rng.choice(["", *(d for d in dirs[-50:] if d and d.count("/") < 3)])
            dirs.append(f"{parent}/d{len(dirs)}".lstrip("/"))
        path = f"{dirs[-1]}/f{i}.{rng.choice(('py', 'txt', 'csv', 'json', 'bin'))}"
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(rng.randbytes(size))
        os.utime(full, (past, past))
        paths.append(path)
    return paths, sizes


def change_one(root: Path, path: str, size: int, run: int) -> None:
    """Rewrite ``path`` with other bytes of the same size (an edit: new content, new mtime)."""
    (root / path).write_bytes(random.Random(SEED + 1 + run).randbytes(size))


def same_tree(source: Path, copy: Path, paths: list[str]) -> None:
    """``BenchError`` unless ``copy`` holds every file of ``source`` with the same bytes, and no other."""
    held = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    if held != set(paths):
        extra, missing = sorted(held - set(paths))[:3], sorted(set(paths) - held)[:3]
        raise BenchError(f"the copy {copy} differs from the tree: extra {extra}, missing {missing}")
    for path in paths:
        if not filecmp.cmp(source / path, copy / path, shallow=False):
            raise BenchError(f"{copy / path} differs from {source / path}")


class Rsync:
    """``rsync -a`` over OpenSSH with the hosts' ssh_config, to ``dest`` on server ``bench``."""

    name = "rsync"

    def __init__(self, ssh_config: Path, tree: Path, dest: Path, timeout: float) -> None:
        self.command = ["rsync", "-a", "-e", f"ssh -F {ssh_config} -o BatchMode=yes", f"{tree}/", f"bench:{dest}/"]
        self.dest, self.timeout = dest, timeout

    def reset(self) -> None:
        shutil.rmtree(self.dest, ignore_errors=True)

    def sync(self, phase: str) -> None:
        done = subprocess.run(
            self.command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=self.timeout
        )
        if done.returncode != 0:
            raise BenchError(f"rsync exited with {done.returncode}: {done.stderr.strip()[-300:]}")


class Remrepl:
    """``Session.sync_workdir`` on a server launched over the same sshd."""

    name = "remrepl"

    def __init__(self, session: Any, tree: Path, files: int) -> None:
        self.session, self.tree, self.files = session, tree, files
        self.remote: Path | None = None

    def reset(self) -> None:
        """Nothing on the server (the copy and its record) and a cold hash cache on the client."""
        if self.remote is not None:
            shutil.rmtree(self.remote, ignore_errors=True)
            self.remote.with_name(self.remote.name + ".json").unlink(missing_ok=True)
        shutil.rmtree(Path(os.environ["REMREPL_STATE_DIR"]) / "hashcache", ignore_errors=True)

    def sync(self, phase: str) -> None:
        result = self.session.sync_workdir(self.tree, enter=False, max_files=self.files + 1, max_bytes=1 << 40)
        self.remote = Path(result.remote)
        expected = {"first": self.files, "unchanged": 0, "changed": 1}[phase]
        if result.sent_files != expected:
            raise BenchError(f"remrepl's {phase} sync sent {result.sent_files} files, not {expected}")


def _timed(sync: Callable[[str], None], phase: str) -> float:
    start = time.perf_counter()
    sync(phase)
    return time.perf_counter() - start


def run_phases(contenders: list[Any], tree: Path, changed: tuple[str, int], runs: int) -> dict[str, JSONDict]:
    """Every run: the three phases, each by every contender in turn (who goes first alternating)."""
    times: dict[str, dict[str, list[float]]] = {c.name: {p: [] for p in PHASES} for c in contenders}
    for run in range(runs):
        order = contenders if run % 2 == 0 else contenders[::-1]
        for c in order:
            c.reset()
        for phase in PHASES:
            if phase == "changed":
                change_one(tree, *changed, run)
            for c in order:
                times[c.name][phase].append(_timed(c.sync, phase))
                log(f"sync: run {run + 1}/{runs} {phase:9} {c.name:7} {times[c.name][phase][-1]:.3f} s")
    return {name: {f"{p}_runs_s": t for p, t in phases.items()} for name, phases in times.items()}


def _summarize(runs: JSONDict, total: int) -> JSONDict:
    out: JSONDict = dict(runs)
    for phase in PHASES:
        out[f"{phase}_s"] = statistics.median(runs[f"{phase}_runs_s"])
    out["first_mb_per_s"] = total / out["first_s"] / MB
    return out


def missing_tools() -> str | None:
    for tool in ("rsync", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: rsync, openssh-client; `bash scripts/test` installs them)"
    if not os.access("/usr/sbin/sshd", os.X_OK):
        return "/usr/sbin/sshd is not installed (Debian: openssh-server; `bash scripts/test` installs it)"
    return None


def run(bench: Bench) -> JSONDict:
    from testhosts import SSHHosts  # scripts/ is on sys.path when bench.py runs

    from remrepl.launchers.ssh.launcher import SSHLauncher

    args = bench.args
    files, total, runs = args.sync_files, args.sync_mb * MB, args.sync_runs
    out: JSONDict = {"files": files, "bytes": total, "runs": runs, "ratios": {}}
    why = missing_tools()
    if why is not None:
        log(f"sync: SKIPPED: {why}")
        return {**out, "skipped": why}
    tree = bench.workdir / "sync-tree"
    log(f"sync: writing {files:,} files, {total / MB:,.0f} MB")
    paths, sizes = make_tree(tree, files, total)
    middle = sorted(range(files), key=lambda i: sizes[i])[files // 2]  # a file of the median size
    out["changed_file"] = {"path": paths[middle], "bytes": sizes[middle]}
    out["largest_file_bytes"] = max(sizes)
    out["directories"] = len({p.rpartition("/")[0] for p in paths})
    remote_env = {"REMREPL_STATE_DIR": str(bench.workdir / "sync-remote-state")}
    if os.environ.get("PYTHONPATH"):  # e.g. the tests' socket guard: remote commands get it too
        remote_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    try:
        with contextlib.ExitStack() as stack:
            hosts = stack.enter_context(SSHHosts(bench.workdir / "sync-ssh", set_env=remote_env))
            hosts.start("bench")
            launcher = SSHLauncher("bench", ssh_config=str(hosts.ssh_config), remote_python=sys.executable)
            stack.callback(launcher.close)
            launcher.start(args.start_timeout)
            session = stack.enter_context(launcher.connect())
            remrepl = Remrepl(session, tree, files)
            rsync = Rsync(hosts.ssh_config, tree, bench.workdir / "sync-rsync-dest", args.timeout)
            out["rsync_command"] = rsync.command
            measured = run_phases([remrepl, rsync], tree, (paths[middle], sizes[middle]), runs)
            assert remrepl.remote is not None
            same_tree(tree, remrepl.remote, paths)
            same_tree(tree, rsync.dest, paths)
            out["copies_match"] = True
    except Exception as exc:
        return {**out, "error": bench.failed("sync", exc)["error"]}
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    for name, numbers in measured.items():
        out[name] = _summarize(numbers, total)
    out["ratios"] = {
        f"{phase}_rsync_over_remrepl": ratio(out["rsync"][f"{phase}_s"], out["remrepl"][f"{phase}_s"])
        for phase in PHASES
    }
    return out


def render(s: JSONDict) -> list[str]:
    heading = f"Workdir sync over SSH on loopback: {s['files']:,} files, {s['bytes'] / MB:,.0f} MB"
    if "skipped" in s:
        return ["", heading, f"  SKIPPED: {s['skipped']}"]
    if "error" in s:
        return ["", heading, f"  ERROR: {s['error']}"[:200]]
    ratios = s["ratios"]

    def row(name: str, d: JSONDict) -> list[str]:
        return [name, *(num(d[f"{p}_s"], ".3f", " s") for p in PHASES), num(d["first_mb_per_s"], ",.1f", " MB/s")]

    return [
        "",
        f"{heading} (medians of {s['runs']} runs; one changed file: {s['changed_file']['bytes']:,} B)",
        *table(
            [
                ["", "first sync", "unchanged", "one changed", "first"],
                row("remrepl Session.sync_workdir", s["remrepl"]),
                row("rsync -a over ssh", s["rsync"]),
                ["rsync / remrepl (time)", *(num(ratios[f"{p}_rsync_over_remrepl"], ".2f", "x") for p in PHASES), ""],
            ]
        ),
    ]


SECTION = Section(
    name="sync",
    summary="a 10,000-file, 100 MB project synced over a private sshd: Session.sync_workdir vs rsync -a",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"sync_files": 60, "sync_mb": 1, "sync_runs": 1},
)
