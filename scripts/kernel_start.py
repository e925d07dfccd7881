"""How long a kernel takes to start, for two source trees side by side (same run, interleaved).

    python scripts/kernel_start.py OLD_TREE NEW_TREE [-n 40]

Each tree is a directory holding a ``remrepl`` package (e.g. ``git archive REV remrepl | tar -x -C DIR``).
A kernel is started as the supervisor starts it (``python -S -c "from remrepl.server.kernel.main import main;
main(CONTROL, SIDE)"``; ``-S -P`` so that PYTHONPATH picks the tree, not an editable install or the
current directory), until its
ready message, then its control socket is closed and it exits. Printed per tree: the CPU time of that
process (user + sys, from wait4: steadier than wall time on a busy machine) and the wall time from spawn
to ready, median and minimum.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time


def start_once(tree: str) -> tuple[float, float]:
    """(CPU ms, spawn-to-ready ms) of one kernel from ``tree``."""
    ours, theirs = socket.socketpair()
    side_ours, side_theirs = socket.socketpair()
    code = f"from remrepl.server.kernel.main import main; main({theirs.fileno()}, {side_theirs.fileno()})"
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-S", "-P", "-c", code],
        pass_fds=(theirs.fileno(), side_theirs.fileno()),
        stdout=subprocess.DEVNULL,
        env={"PYTHONPATH": tree, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    theirs.close()
    side_theirs.close()
    received = b""
    deadline = began + 60
    while b"ready" not in received and time.perf_counter() < deadline:
        chunk = ours.recv(4096)
        if not chunk:
            raise SystemExit(f"the kernel from {tree} ended before it was ready")
        received += chunk
    wall = (time.perf_counter() - began) * 1000
    ours.close()
    side_ours.close()
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped here
    return (usage.ru_utime + usage.ru_stime) * 1000, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+")
    parser.add_argument("-n", type=int, default=40)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {t: [] for t in args.trees}
    wall: dict[str, list[float]] = {t: [] for t in args.trees}
    for _ in range(args.n):
        for tree in args.trees:
            c, w = start_once(tree)
            cpu[tree].append(c)
            wall[tree].append(w)
    for tree in args.trees:
        print(
            f"{tree}: CPU {statistics.median(cpu[tree]):.1f} ms (min {min(cpu[tree]):.1f}), "
            f"spawn to ready {statistics.median(wall[tree]):.1f} ms (min {min(wall[tree]):.1f}), n={args.n}"
        )


if __name__ == "__main__":
    main()
