#!/usr/bin/env python3
"""Where a ``1+1`` request's CPU goes: per process, per thread, and (with py-spy) per function.

Starts one local server (``remrepl.launch()``), runs ``1+1`` in interleaved blocks and reads every thread's
CPU time from ``/proc/PID/task/TID/schedstat`` (nanoseconds on a CPU) and its voluntary context switches
("wake-ups", ``/proc/.../status``) before and after each block, for the supervisor (its main thread,
libzmq's I/O thread that does CURVE and TCP), the kernel (its main thread, the flusher) and this client.
The contenders take turns block by block, the order rotating:

  remrepl                      the client as shipped: Execute, Done, then an Ack of what it saw;
  remrepl, no end-of-run Ack   the same session with its end-of-run Ack turned off (the Execute still
                               carries ``ack=``): the difference is what the per-run Ack costs;
  --peers: echo, rpyc          bench.py's bare CURVE echo and rpyc classic, with their servers' threads;
           lean relay          ``benchkit/relay.py``: the three-process design with none of remrepl's
                               machinery, the floor a supervisor rewrite can reach.

Then, optionally: ``--strace`` counts the server processes' system calls per request (``strace -c -f``);
``--py-spy`` (``pip install py-spy``) samples the supervisor, then the kernel, with ``py-spy record
--gil --nonblocking`` (a sample only while the GIL is held: Python running, not a thread waiting in
poll) and folds the stacks into the hot path's categories (``CATEGORIES``) and inclusive shares, in µs
per request (samples / rate / requests); ``--micro`` times each hot-path step alone
(``benchkit/hotpath.py``).

    python scripts/profile_supervisor.py --requests 1000 --blocks 4 --peers --strace --micro --py-spy

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
from collections.abc import Callable, Iterator
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
    ("replay buffer", ("supervisor/replay.py",)),
    ("activity heartbeat", ("supervisor/activity.py",)),
    ("connection gate / ZAP", ("transport/gate.py", "transport/zap.py")),
    ("kernel message validation", ("protocol/kernel_channel.py", "protocol/message_codec.py", "supervisor/bounds.py")),
    ("kernel pipe: socket send/recv", ("supervisor/kernel_process.py",)),
    ("zmq send", ("send_multipart", "sugar/socket.py:send", "Socket.send")),
    ("zmq recv", ("recv_multipart", "Socket.recv", "sugar/socket.py:recv")),
    ("zmq poll", ("sugar/poll.py", "zmq_poll")),
    ("zmq getsockopt (EVENTS)", ("getsockopt", "get (zmq")),
    ("guard (contextmanager)", ("contextlib.py", "supervisor/guard.py")),
    ("side requests", ("supervisor/side_requests.py",)),
    ("transfers", ("supervisor/transfers.py",)),
    ("kernel link (dispatch of kernel messages)", ("supervisor/kernel_link.py",)),
    ("supervisor loop + dispatch", ("supervisor/loop.py", "supervisor/session_core.py")),
    # the kernel's own
    ("kernel: compile", ("compile",)),
    ("kernel: exec/repr of user code", ("kernel/shell.py",)),
    ("kernel: control channel", ("kernel/main.py",)),
    ("kernel: side thread", ("kernel/side.py", "kernel/introspect.py")),
    ("threading", ("threading.py",)),
)


# --- CPU time from /proc -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadUse:
    cpu: float  # seconds on a CPU (schedstat)
    switches: int  # voluntary context switches: the times it went to sleep and was woken


def thread_use(pid: int) -> dict[str, ThreadUse]:
    """What each thread of ``pid`` has used so far, keyed "name/tid"; {} once it is gone."""
    found: dict[str, ThreadUse] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        task = Path(f"/proc/{pid}/task/{tid}")
        try:
            name = (task / "comm").read_text().strip()
            ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        found[f"{name}/{tid}"] = ThreadUse(ns / 1e9, switches)
    return found


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
        return "main"
    if name.startswith("ZMQbg/IO"):
        return "zmq I/O thread (CURVE, TCP)"
    if name.startswith("ZMQbg"):
        return "zmq other"
    return f"thread {name}"


def by_role(before: dict[str, ThreadUse], after: dict[str, ThreadUse], main_tid: int) -> dict[str, ThreadUse]:
    cpu: dict[str, float] = collections.defaultdict(float)
    switches: dict[str, int] = collections.defaultdict(int)
    for key, use in after.items():
        old = before.get(key, ThreadUse(0.0, 0))
        role = thread_role(key, main_tid)
        cpu[role] += use.cpu - old.cpu
        switches[role] += use.switches - old.switches
    return {role: ThreadUse(cpu[role], switches[role]) for role in cpu}


# --- the measured loop ---------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of making a ``1+1`` request, and the processes whose threads it uses."""

    name: str
    request: Callable[[], object]
    processes: dict[str, int]  # label -> pid


def run_block(contender: Contender, n: int) -> JSONDict:
    """``n`` requests; wall time each, and CPU and wake-ups per request per process and thread role."""
    before = {label: thread_use(pid) for label, pid in contender.processes.items()}
    walls: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        contender.request()
        walls.append(time.perf_counter() - start)
    after = {label: thread_use(pid) for label, pid in contender.processes.items()}
    figures: dict[str, float] = {"wall median µs": statistics.median(walls) * 1e6, "wall min µs": min(walls) * 1e6}
    for label, pid in contender.processes.items():
        roles = by_role(before[label], after[label], pid)
        for role, use in sorted(roles.items()):
            if use.cpu > 0:
                figures[f"{label}: {role} CPU µs"] = use.cpu / n * 1e6
                figures[f"{label}: {role} wake-ups"] = use.switches / n
        figures[f"{label}: total CPU µs"] = sum(u.cpu for u in roles.values()) / n * 1e6
    return {"contender": contender.name, "n": n, "figures": figures}


def summarise(blocks: list[JSONDict]) -> JSONDict:
    """Per contender: the min and median over its blocks of every figure."""
    out: JSONDict = {}
    for name in dict.fromkeys(b["contender"] for b in blocks):
        values: dict[str, list[float]] = collections.defaultdict(list)
        for b in blocks:
            if b["contender"] == name:
                for key, value in b["figures"].items():
                    values[key].append(value)
        out[name] = {k: {"min": min(v), "median": statistics.median(v)} for k, v in values.items()}
    return out


def remrepl_contenders(session: Any, procs: Processes) -> list[Contender]:
    """The session as shipped, and the same session with its end-of-run Ack turned off (this session
    only; the Execute still carries ``ack=``): the difference is what the per-run Ack costs."""

    def with_ack() -> None:
        if session.execute(CODE).wait(60).status != "ok":
            raise RuntimeError(f"{CODE} failed")

    def without_ack() -> None:
        session.acknowledge = lambda: None
        try:
            with_ack()
        finally:
            del session.acknowledge

    processes = {"supervisor": procs.supervisor, "kernel": procs.kernel, "client": procs.client}
    return [Contender("remrepl", with_ack, processes), Contender("remrepl, no end-of-run Ack", without_ack, processes)]


@dataclass
class Processes:
    supervisor: int
    kernel: int
    client: int


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


def inclusive_shares(path: Path, top: int = 40) -> list[JSONDict]:
    """Share of the samples whose stack passes through each function (line numbers dropped)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        total += int(count_text)
        seen = set()
        for frame in stack_text.split(";"):
            function = frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") and ":" in frame else frame
            if function not in seen:
                seen.add(function)
                counts[function] += int(count_text)
    return [{"function": f, "pct": 100 * k / total} for f, k in counts.most_common(top)] if total else []


def profile(session: Any, procs: Processes, n: int, rate: int, flags: list[str], workdir: Path) -> JSONDict:
    """py-spy on the supervisor, then on the kernel, each during ``n`` requests. With ``--gil`` a sample is
    taken only while the thread holds the GIL, so samples / rate is the time it ran Python."""
    result: JSONDict = {}
    for name, pid in (("supervisor", procs.supervisor), ("kernel", procs.kernel)):
        out = workdir / f"{name}.txt"
        before = thread_use(pid)
        with py_spy(pid, out, rate, flags):
            start = time.perf_counter()
            for _ in range(n):
                session.execute(CODE).wait(60)
            elapsed = time.perf_counter() - start
        after = thread_use(pid)
        if not out.exists():
            result[name] = {"error": "py-spy wrote nothing"}
            continue
        cats, leaves, total = read_raw(out)
        main_cpu = by_role(before, after, pid).get("main", ThreadUse(0.0, 0)).cpu
        sampled_us = total / rate / n * 1e6  # µs per request the samples stand for
        result[name] = {
            "requests": n,
            "flags": flags,
            "wall_us_per_request": elapsed / n * 1e6,
            "samples": total,
            "sampled_us_per_request": sampled_us,
            "main_thread_cpu_us_per_request_while_sampled": main_cpu / n * 1e6,
            "categories": [
                {"category": c, "pct": 100 * k / total, "us_per_request": sampled_us * k / total}
                for c, k in cats.most_common()
            ],
            "inclusive": inclusive_shares(out),
            "top_leaf_frames": [{"frame": f, "pct": 100 * k / total} for f, k in leaves.most_common(25)],
            "raw": str(out),
        }
    return result


def strace_counts(pid: int, request: Callable[[], object], n: int, workdir: Path) -> JSONDict:
    """System calls per request of every thread of ``pid`` (``strace -c -f``), during ``n`` requests."""
    exe = shutil.which("strace")
    if exe is None:
        return {"error": "no strace"}
    out = workdir / f"strace-{pid}.txt"
    tracer = subprocess.Popen([exe, "-c", "-f", "-p", str(pid), "-o", str(out)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # strace attaches to every thread (a script's start-up, not a test)
        for _ in range(n):
            request()
    finally:
        tracer.send_signal(2)
        tracer.wait(30)
    calls: dict[str, float] = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[3].isdigit():
            calls[parts[-1]] = int(parts[3]) / n
    return {"requests": n, "calls_per_request": dict(sorted(calls.items(), key=lambda kv: -kv[1]))}


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


def peer_contenders(stack: contextlib.ExitStack) -> list[Contender]:
    """The bare CURVE echo, rpyc's classic eval (bench.py's engines) and the lean relay (the design's
    floor: ``benchkit/relay.py``), with their server processes."""
    from benchkit.common import Deadline
    from benchkit.engines import EchoEngine, RpycEngine, execute_frames
    from benchkit.relay import RelayEngine

    echo = EchoEngine(60)
    stack.callback(echo.close)
    rpyc = RpycEngine(60)
    stack.callback(rpyc.close)
    relay = RelayEngine(60)
    stack.callback(relay.close)
    relay_server, relay_kernel = relay.pids
    frames = execute_frames()
    deadline = Deadline(3600, "profile")
    assert echo.process.pid is not None
    return [
        Contender(
            "echo", lambda: echo.roundtrip(frames, 1, 0, deadline), {"server": echo.process.pid, "client": os.getpid()}
        ),
        Contender("rpyc", lambda: rpyc.roundtrip(1, 0, deadline), {"server": rpyc.process.pid, "client": os.getpid()}),
        Contender(
            "lean relay + kernel (the design's floor)",
            lambda: relay.roundtrip(frames, 1, 0, deadline),
            {"server": relay_server, "kernel": relay_kernel, "client": os.getpid()},
        ),
    ]


def render(report: JSONDict) -> str:
    lines = []
    for name, figures in report["summary"].items():
        lines.append(f"\n{name}: per request, min / median over blocks")
        for key, v in figures.items():
            lines.append(f"  {key:55s} {v['min']:9.1f} {v['median']:9.1f}")
    for name, data in report["strace"].items():
        if "error" in data:
            lines.append(f"\nstrace {name}: {data['error']}")
            continue
        calls = ", ".join(f"{k} {v:.2f}" for k, v in data["calls_per_request"].items() if v >= 0.05)
        lines.append(f"\nstrace {name}: system calls per request (all threads): {calls}")
    for name, data in report["py_spy"].items():
        if "error" in data:
            lines.append(f"\npy-spy {name}: {data['error']}")
            continue
        lines.append(
            f"\npy-spy {' '.join(data['flags'])} {name}: {data['samples']} samples over {data['requests']} requests "
            f"= {data['sampled_us_per_request']:.0f} µs/request sampled; main thread "
            f"{data['main_thread_cpu_us_per_request_while_sampled']:.0f} µs/request CPU while sampled"
        )
        for c in data["categories"]:
            lines.append(f"  {c['pct']:5.1f}%  {c['us_per_request']:6.1f} µs  {c['category']}")
        lines.append("  inclusive:")
        for f in data["inclusive"]:
            lines.append(f"  {f['pct']:5.1f}%  {f['function']}")
    if report["micro"]:
        from benchkit import hotpath

        lines += ["", *hotpath.render(report["micro"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per block (default 1000)")
    parser.add_argument("--blocks", type=int, default=4, help="blocks of each contender, interleaved (default 4)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--peers", action="store_true", help="the bare CURVE echo and rpyc take turns too")
    parser.add_argument("--strace", action="store_true", help="count system calls per request (strace -c)")
    parser.add_argument("--micro", action="store_true", help="time each hot-path step alone (benchkit/hotpath.py)")
    parser.add_argument("--py-spy", action="store_true", help="then sample supervisor and kernel with py-spy")
    parser.add_argument(
        "--spy-flags",
        default="--gil --nonblocking",
        help="py-spy record flags (default --gil --nonblocking: samples only while the GIL is held, i.e. "
        "while Python runs, so a thread waiting in poll() or recv() is not counted, without pausing it)",
    )
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second (default 2000)")
    parser.add_argument("--spy-requests", type=int, default=3000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep-raw", type=Path, help="copy py-spy's raw files into this directory")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="remrepl-profile-"))
    os.environ["REMREPL_STATE_DIR"] = str(workdir / "state")
    report: JSONDict = {"options": {k: str(v) for k, v in vars(args).items()}}
    with contextlib.ExitStack() as stack:
        launcher, session, procs = start()
        stack.callback(launcher.close)
        stack.callback(session.close)
        print(f"[profile] supervisor {procs.supervisor}, kernel {procs.kernel}, client {procs.client}", file=sys.stderr)
        for _ in range(args.warmup):
            session.execute(CODE).wait(60)
        contenders = remrepl_contenders(session, procs)
        if args.peers:
            contenders += peer_contenders(stack)
            for peer in contenders[2:]:
                for _ in range(args.warmup):
                    peer.request()
        blocks = []
        for turn in range(args.blocks):  # interleaved, the order rotating
            order = contenders[turn % len(contenders) :] + contenders[: turn % len(contenders)]
            blocks += [run_block(c, args.requests) for c in order]
        report["blocks"] = blocks
        report["summary"] = summarise(blocks)
        report["strace"] = {}
        if args.strace:
            for c in contenders:
                if c.name != "remrepl, no end-of-run Ack":
                    pid = c.processes.get("supervisor") or c.processes["server"]
                    report["strace"][c.name] = strace_counts(pid, c.request, min(args.requests, 1000), workdir)
        report["py_spy"] = (
            profile(session, procs, args.spy_requests, args.rate, args.spy_flags.split(), workdir)
            if args.py_spy
            else {}
        )
        if args.keep_raw:
            args.keep_raw.mkdir(parents=True, exist_ok=True)
            for data in report["py_spy"].values():
                if "raw" in data:
                    shutil.copy(data["raw"], args.keep_raw)
    if args.micro:
        from benchkit import hotpath

        report["micro"] = hotpath.steps()
    else:
        report["micro"] = []
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
