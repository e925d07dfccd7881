#!/usr/bin/env python3
"""Where a ``1+1`` request's CPU goes: per process, per thread, and (with py-spy) per function.

Starts one local server (``remrepl.launch()``), runs ``1+1`` in interleaved blocks and reads every thread's
CPU time from ``/proc/PID/task/TID/schedstat`` (nanoseconds on the CPU) before and after each block, for
the supervisor (its Python thread, libzmq's I/O thread that does CURVE and TCP, the others), the kernel
(the main thread that runs the code, the side thread) and this client. The blocks alternate between

  acks      the client as shipped: Execute, Done, then an Ack of what it saw (``Welcome.acks``);
  no-acks   the same client with its end-of-run Ack turned off (the Execute still carries ``ack=``),

so the cost of the per-run Ack round shows as the difference, measured in the same run.

With ``--py-spy`` it then samples the supervisor and the kernel with py-spy (``record --format raw``,
``--nonblocking``) during a further stretch of ``1+1`` requests and folds the stacks into the categories
of the hot path (zmq recv/send, codec, state machine, replay, activity, logging, poll, kernel pipe...):
see ``CATEGORIES``. Only on-CPU samples count (py-spy leaves idle ones out), so the shares are of the
Python thread's CPU, which the schedstat figures turn into microseconds per request.

    python scripts/profile_supervisor.py --requests 3000 --blocks 6 --py-spy --json out.json

Linux only (``/proc``). Everything talks to 127.0.0.1; every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSONDict = dict[str, Any]
CODE = "1+1"

# (category, substrings of a frame "function (file:line)"): the first rule that matches a frame, walking
# from the leaf towards the root, names the sample. Order matters: the specific before the general.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/__init__.py",)),
    ("kernel pipe: json encode/decode", ("json/encoder.py", "json/decoder.py", "json/__init__.py")),
    ("codec encode/decode", ("protocol/codec.py",)),
    ("state machine (Connection)", ("protocol/connection.py",)),
    ("event dataclasses (__init__)", ("<string>",)),
    ("replay buffer", ("server/replay.py",)),
    ("activity heartbeat", ("server/activity.py",)),
    ("connection gate / ZAP", ("transport/gate.py", "transport/zap.py")),
    ("kernel message validation", ("server/kernel_messages.py", "server/bounds.py")),
    ("kernel pipe: socket send/recv", ("server/kernel_process.py",)),
    ("zmq send", ("send_multipart", "sugar/socket.py:send", "Socket.send")),
    ("zmq recv", ("recv_multipart", "Socket.recv", "sugar/socket.py:recv")),
    ("zmq poll", ("sugar/poll.py", "zmq_poll")),
    ("zmq getsockopt (EVENTS)", ("getsockopt", "get (zmq")),
    ("guard (contextmanager)", ("contextlib.py", "server/guard.py")),
    ("side requests", ("server/side_requests.py",)),
    ("transfers", ("server/transfers.py",)),
    ("kernel link (dispatch of kernel messages)", ("server/kernel_link.py",)),
    ("supervisor loop + dispatch", ("server/supervisor.py",)),
    # the kernel's own
    ("kernel: compile", ("compile",)),
    ("kernel: exec/repr of user code", ("server/shell.py",)),
    ("kernel: control channel", ("server/kernel.py",)),
    ("kernel: side thread", ("server/kernel_side.py", "server/introspect.py")),
    ("threading", ("threading.py",)),
)


# --- CPU time from /proc -------------------------------------------------------------------------


def thread_times(pid: int) -> dict[str, float]:
    """Seconds on the CPU of each thread of ``pid``, keyed "name/tid"; {} once it is gone."""
    times: dict[str, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return times
    for tid in tids:
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        times[f"{name}/{tid}"] = ns / 1e9
    return times


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            found += [int(c) for c in text.split()]
    return found


def thread_role(key: str, main_tid: int) -> str:
    """A thread's job, from its name (libzmq names its threads ZMQbg/IO/0, ZMQbg/Reaper)."""
    name, tid = key.rsplit("/", 1)
    if int(tid) == main_tid:
        return "main (Python)"
    if name.startswith("ZMQbg/IO"):
        return "zmq I/O thread (CURVE, TCP)"
    if name.startswith("ZMQbg"):
        return "zmq other"
    return f"thread {name}"


def by_role(before: dict[str, float], after: dict[str, float], main_tid: int) -> dict[str, float]:
    roles: dict[str, float] = collections.defaultdict(float)
    for key, seconds in after.items():
        roles[thread_role(key, main_tid)] += seconds - before.get(key, 0.0)
    return dict(roles)


# --- the measured loop ---------------------------------------------------------------------------


@dataclass
class Processes:
    supervisor: int
    kernel: int
    client: int


def run_block(session: Any, n: int, acks: bool, procs: Processes, timeout: float) -> JSONDict:
    """``n`` round trips of ``1+1``; wall time each, and CPU per request per process and thread role."""
    real_ack = type(session).acknowledge
    if not acks:
        session.acknowledge = lambda: None  # this session only: the end-of-run Ack is not sent
    try:
        before = {p: thread_times(p) for p in (procs.supervisor, procs.kernel, procs.client)}
        walls: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            done = session.execute(CODE).wait(timeout)
            walls.append(time.perf_counter() - start)
            if done.status != "ok":
                raise RuntimeError(f"{CODE} ended with {done.status}")
        after = {p: thread_times(p) for p in (procs.supervisor, procs.kernel, procs.client)}
    finally:
        if not acks:
            del session.acknowledge
    assert real_ack is type(session).acknowledge
    cpu = {
        "supervisor": by_role(before[procs.supervisor], after[procs.supervisor], procs.supervisor),
        "kernel": by_role(before[procs.kernel], after[procs.kernel], procs.kernel),
        "client": by_role(before[procs.client], after[procs.client], procs.client),
    }
    return {
        "acks": acks,
        "n": n,
        "wall_median_us": statistics.median(walls) * 1e6,
        "wall_min_us": min(walls) * 1e6,
        "cpu_us_per_request": {
            proc: {role: s / n * 1e6 for role, s in roles.items() if s > 0} for proc, roles in cpu.items()
        },
    }


def summarise(blocks: list[JSONDict]) -> JSONDict:
    """Per mode: the min and median over blocks of every figure."""
    out: JSONDict = {}
    for mode in ("acks", "no-acks"):
        chosen = [b for b in blocks if b["acks"] == (mode == "acks")]
        if not chosen:
            continue
        figures: dict[str, list[float]] = collections.defaultdict(list)
        for b in chosen:
            figures["wall_median_us"].append(b["wall_median_us"])
            figures["wall_min_us"].append(b["wall_min_us"])
            for proc, roles in b["cpu_us_per_request"].items():
                for role, us in roles.items():
                    figures[f"{proc}: {role}"].append(us)
                figures[f"{proc}: total"].append(sum(roles.values()))
        out[mode] = {k: {"min": min(v), "median": statistics.median(v)} for k, v in sorted(figures.items())}
    return out


# --- py-spy --------------------------------------------------------------------------------------


def categorise(stack: list[str]) -> str:
    for frame in reversed(stack):  # leaf first
        for category, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return category
    return "other: " + (stack[-1] if stack else "?")


def read_raw(path: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """(samples by category, samples by leaf frame, total) of a py-spy ``--format raw`` file."""
    by_category: collections.Counter[str] = collections.Counter()
    by_leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack_text.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        by_category[categorise(frames)] += count
        by_leaf[frames[-1] if frames else "?"] += count
        total += count
    return by_category, by_leaf, total


def inclusive(path: Path, needles: tuple[str, ...]) -> collections.Counter[str]:
    """Samples whose stack passes through each frame naming one of ``needles`` (inclusive time)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        seen = set()
        for frame in stack_text.split(";"):
            fn = frame.split(" (")[0]
            if any(n in frame for n in needles) and fn not in seen:
                seen.add(fn)
                counts[frame.split(":")[0] + ")" if ":" in frame else frame] += int(count_text)
    return counts


@contextlib.contextmanager
def py_spy(pid: int, out: Path, rate: int, flags: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "-r", str(rate), "-p", str(pid), "-o", str(out), "--format", "raw", *flags]
    spy = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # py-spy attaches (a script's start-up, not a test: nothing is asserted here)
        yield spy
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        try:
            _, err = spy.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if spy.returncode not in (0, -2, 130) or not out.exists():
            print(f"[profile] py-spy on {pid}: exit {spy.returncode}: {err.decode(errors='replace')[-500:]}")


def profile(session: Any, procs: Processes, n: int, rate: int, flags: list[str], workdir: Path) -> JSONDict:
    result: JSONDict = {}
    for name, pid in (("supervisor", procs.supervisor), ("kernel", procs.kernel)):
        out = workdir / f"{name}.txt"
        before = thread_times(pid)
        with py_spy(pid, out, rate, flags):
            start = time.perf_counter()
            for _ in range(n):
                session.execute(CODE).wait(60)
            elapsed = time.perf_counter() - start
        after = thread_times(pid)
        if not out.exists():
            result[name] = {"error": "py-spy wrote nothing"}
            continue
        cats, leaves, total = read_raw(out)
        main_cpu = by_role(before, after, pid).get("main (Python)", 0.0)
        us_per_sample = main_cpu / n * 1e6 / total if total else 0.0  # main-thread µs/request per sample share
        result[name] = {
            "requests": n,
            "wall_us_per_request": elapsed / n * 1e6,
            "samples": total,
            "main_thread_cpu_us_per_request_while_sampled": main_cpu / n * 1e6,
            "categories": [
                {"category": c, "pct": 100 * k / total, "us_per_request": k * us_per_sample}
                for c, k in cats.most_common()
            ],
            "top_leaf_frames": [{"frame": f, "pct": 100 * k / total} for f, k in leaves.most_common(25)],
            "raw": str(out),
        }
    return result


# --- main ----------------------------------------------------------------------------------------


def start() -> tuple[Any, Any, Processes]:
    import remrepl

    launcher = remrepl.launch()
    session = launcher.connect()
    session.run(CODE, timeout=60)
    assert session.welcome is not None
    sup = session.welcome.server_pid
    kids = children(sup)
    if len(kids) != 1:
        raise RuntimeError(f"expected one kernel under the supervisor {sup}, found {kids}")
    return launcher, session, Processes(sup, kids[0], os.getpid())


def render(summary: JSONDict, spied: JSONDict) -> str:
    lines = []
    for mode, figures in summary.items():
        lines.append(f"\n{mode}: min / median over blocks")
        for key, v in figures.items():
            lines.append(f"  {key:55s} {v['min']:9.1f} {v['median']:9.1f} µs")
    for name, data in spied.items():
        if "error" in data:
            lines.append(f"\npy-spy {name}: {data['error']}")
            continue
        lines.append(
            f"\npy-spy {name}: {data['samples']} samples over {data['requests']} requests, main thread "
            f"{data['main_thread_cpu_us_per_request_while_sampled']:.0f} µs/request while sampled"
        )
        for c in data["categories"]:
            lines.append(f"  {c['pct']:5.1f}%  {c['us_per_request']:6.1f} µs  {c['category']}")
        lines.append("  top leaf frames:")
        for f in data["top_leaf_frames"][:20]:
            lines.append(f"  {f['pct']:5.1f}%  {f['frame']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="round trips per block (default 2000)")
    parser.add_argument("--blocks", type=int, default=6, help="blocks, alternating acks / no-acks (default 6)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--py-spy", action="store_true", help="then sample supervisor and kernel with py-spy")
    parser.add_argument(
        "--spy-flags",
        default="--gil",
        help="py-spy record flags (default --gil: only samples holding the GIL, i.e. running Python, so a "
        "thread waiting in poll() or recv() with the GIL released is not counted)",
    )
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second (default 2000)")
    parser.add_argument("--spy-requests", type=int, default=4000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep-raw", type=Path, help="copy py-spy's raw files into this directory")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="remrepl-profile-"))
    os.environ["REMREPL_STATE_DIR"] = str(workdir / "state")
    launcher, session, procs = start()
    try:
        print(f"[profile] supervisor {procs.supervisor}, kernel {procs.kernel}, client {procs.client}", file=sys.stderr)
        for _ in range(args.warmup):
            session.execute(CODE).wait(60)
        blocks = [run_block(session, args.requests, i % 2 == 0, procs, 60) for i in range(args.blocks)]
        summary = summarise(blocks)
        spied = (
            profile(session, procs, args.spy_requests, args.rate, args.spy_flags.split(), workdir)
            if args.py_spy
            else {}
        )
        if args.keep_raw:
            args.keep_raw.mkdir(parents=True, exist_ok=True)
            for data in spied.values():
                if "raw" in data:
                    shutil.copy(data["raw"], args.keep_raw)
    finally:
        session.close()
        launcher.close()
    print(render(summary, spied))
    if args.json:
        args.json.write_text(json.dumps({"blocks": blocks, "summary": summary, "py_spy": spied}, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
