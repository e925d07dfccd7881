#!/usr/bin/env python3
"""Brute force against a real server: what a flood of wrong keys costs it, and what the user sees.

Starts ``python -m remrepl.server`` (a password, 127.0.0.1) and an attacker process that opens
``--rate`` CurveZMQ connections a second with random (wrong) client keys, spread over ``--addresses``
loopback source addresses (127.0.0.2 ...; ZeroMQ's ``tcp://SRC:0;DST`` connect syntax binds the source),
plus a second attacker on the user's own address, 127.0.0.1, at one guess a second. Every attacking
connection is closed after ``--lifetime`` seconds whatever happened to it (libzmq's own reconnection is
off), so the attacker's outstanding connections stay bounded.

Every ``--sample`` seconds it records the supervisor's RSS and open fds (/proc), and every
``--login-every`` seconds the legitimate user's login time (key derived once; a fresh Session: handshake
and Welcome) or its error. When the flood stops, one more login measures how soon the user gets in. The
server's own "zap:" log lines (answers pending, addresses rationed) are reported when it prints them.

    python scripts/bench_flood.py --seconds 60
    python scripts/bench_flood.py --seconds 600 --json           # the issue's 10 minutes
    python scripts/bench_flood.py --server-src /tmp/main-src ...  # the server from another source tree
    python scripts/bench_flood.py --idle 1100 --fd-limit 1024     # idle connections at ulimit -n 1024

Loopback only; every wait has a deadline; the server and the attacker are stopped at the end, also on
errors. Linux (reads /proc). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[1]


def attack(port: int, server_key: str, rate: float, addresses: int, seconds: float, lifetime: float) -> None:
    """The attacker process: ``rate`` guesses/s over ``addresses`` sources, and 1/s from 127.0.0.1."""
    import zmq

    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 16384)
    key = server_key.encode()
    open_sockets: deque[tuple[float, zmq.Socket[bytes]]] = deque()
    start = time.monotonic()
    sent = {"flood": 0, "same-address": 0}
    next_flood, next_local = start, start
    source = 0

    def guess(src: str) -> None:
        public, secret = zmq.curve_keypair()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, -1)  # one attempt per socket: the rate is ours, not libzmq's
        sock.setsockopt(zmq.CURVE_SERVERKEY, key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.connect(f"tcp://{src}:0;127.0.0.1:{port}")
        open_sockets.append((time.monotonic() + lifetime, sock))

    while (now := time.monotonic()) < start + seconds:
        while next_flood <= now:
            guess(f"127.0.0.{2 + source % addresses}")
            source += 1
            sent["flood"] += 1
            next_flood += 1.0 / rate
        if next_local <= now:
            guess("127.0.0.1")
            sent["same-address"] += 1
            next_local += 1.0
        while open_sockets and open_sockets[0][0] <= now:
            open_sockets.popleft()[1].close(linger=0)
        time.sleep(max(0.0, min(next_flood, next_local) - time.monotonic()))
    for _, sock in open_sockets:
        sock.close(linger=0)
    ctx.term()
    print(json.dumps(sent), flush=True)


def proc_stats(pid: int) -> tuple[float, int]:
    """(RSS in MB, open fds) of ``pid``."""
    with open(f"/proc/{pid}/status") as f:
        rss_kb = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def login_time(info: Any, keys: Any, timeout: float) -> tuple[float, str]:
    """(seconds, "ok" or the error's class and message) of one fresh login."""
    from remrepl.client.session import Session

    started = time.monotonic()
    try:
        Session(info, keys, connect_timeout=timeout).close()
        return time.monotonic() - started, "ok"
    except Exception as exc:  # a benchmark reports every failure, it does not stop at one
        return time.monotonic() - started, f"{type(exc).__name__}: {str(exc)[:90]}"


def start_server(args: argparse.Namespace, fd_limit: int | None = None) -> tuple[subprocess.Popen[str], Path]:
    """``python -m remrepl.server`` with a password, in a fresh temporary folder; (process, its log)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    password_file = tmp / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    env = {**os.environ, "REMREPL_STATE_DIR": str(tmp / "state"), "PYTHONDONTWRITEBYTECODE": "1"}
    if args.server_src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.server_src, env.get("PYTHONPATH")]))
    log_path = tmp / "server.log"
    command = [sys.executable, "-m", "remrepl.server", "--password-file", str(password_file)]
    command += ["--connection-file", str(tmp / "server.json")]

    def limit() -> None:
        if fd_limit is not None:  # as ``ulimit -n`` (soft and hard) would
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=log, text=True, preexec_fn=limit)  # fmt: skip
    return server, log_path


def stop(*processes: subprocess.Popen[str] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(args: argparse.Namespace) -> dict[str, Any]:
    """``--idle N``: N connections that never say a word (30 per source address) against a server at
    ``ulimit -n --fd-limit``; the server's CPU over 5 s, its fds, and 10 logins."""
    import socket

    from remrepl import ConnectionInfo
    from remrepl.transport import derive_client_keys

    server, log_path = start_server(args, fd_limit=args.fd_limit)
    conns: list[socket.socket] = []
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        info, pid = ConnectionInfo.from_json(ready), int(ready["pid"])
        keys = derive_client_keys(PASSWORD, info.server_public_key, info.kdf)
        refused = 0
        for i in range(args.idle):
            conn = socket.socket()
            conn.settimeout(5)
            conn.bind((f"127.0.0.{2 + i // 30}", 0))
            try:
                conn.connect(("127.0.0.1", info.port))
            except OSError:
                refused += 1
            conns.append(conn)
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        deadline = wall0 + 5
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(left)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
        _, fds = proc_stats(pid)
        logins = [login_time(info, keys, args.timeout) for _ in range(10)]
        ok = [took for took, outcome in logins if outcome == "ok"]
        return {
            "idle_connections": args.idle,
            "connect_failed": refused,
            "fd_limit": args.fd_limit,
            "server_cpu_share": round(cpu, 2),
            "server_fds": fds,
            "logins_ok_of_10": len(ok),
            "login_errors": sorted({outcome for _, outcome in logins if outcome != "ok"}),
            "max_ok_seconds": round(max(ok), 3) if ok else None,
        }
    finally:
        for conn in conns:
            conn.close()
        stop(server)
        shutil.rmtree(log_path.parent, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from remrepl import ConnectionInfo
    from remrepl.transport import derive_client_keys

    server, log_path = start_server(args)
    attacker: subprocess.Popen[str] | None = None
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        info = ConnectionInfo.from_json(ready)
        pid = int(ready["pid"])
        keys = derive_client_keys(PASSWORD, info.server_public_key, info.kdf)
        rss0, fds0 = proc_stats(pid)
        base, _ = login_time(info, keys, args.timeout)
        print(f"server pid {pid}: {rss0:.1f} MB, {fds0} fds; idle login {base:.3f} s", file=sys.stderr)
        attack_cmd = [sys.executable, __file__, "--attack", str(info.port), info.server_public_key.decode()]
        attack_cmd += ["--rate", str(args.rate), "--addresses", str(args.addresses)]
        attack_cmd += ["--seconds", str(args.seconds), "--lifetime", str(args.lifetime)]
        attacker = subprocess.Popen(attack_cmd, stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        samples: list[dict[str, float]] = []
        logins: list[dict[str, Any]] = []
        next_sample, next_login = started + args.sample, started + args.login_every
        died_at = None
        while time.monotonic() < started + args.seconds and attacker.poll() is None:
            now = time.monotonic()
            if server.poll() is not None:  # a kill switch: report it, stop the flood
                died_at = round(now - started)
                print(f"t={died_at:5d} s  the server died (exit status {server.returncode})", file=sys.stderr)
                attacker.terminate()
                break
            if now >= next_sample:
                rss, fds = proc_stats(pid)
                samples.append({"t": round(now - started), "rss_mb": round(rss, 1), "fds": fds})
                print(f"t={now - started:5.0f} s  rss {rss:6.1f} MB  fds {fds:5d}", file=sys.stderr)
                next_sample += args.sample
            if now >= next_login:
                took, outcome = login_time(info, keys, args.timeout)
                logins.append({"t": round(now - started), "seconds": round(took, 3), "outcome": outcome})
                print(f"t={now - started:5.0f} s  login {took:6.3f} s  {outcome}", file=sys.stderr)
                next_login += args.login_every
            time.sleep(max(0.0, min(next_sample, next_login, started + args.seconds) - time.monotonic()))
        attacker.wait(args.lifetime + 30)
        sent = json.loads(attacker.stdout.read() or "{}") if attacker.stdout and died_at is None else {}
        stopped = time.monotonic()
        after_stop: list[dict[str, Any]] = []
        while died_at is None and len(after_stop) < 5 and time.monotonic() - stopped < 30:  # how soon in
            took, outcome = login_time(info, keys, args.timeout)
            after_stop.append({"since_stop": round(time.monotonic() - stopped, 3), "outcome": outcome})
            if outcome == "ok":
                break
        rss1, fds1 = proc_stats(pid) if died_at is None else (samples[-1]["rss_mb"], 0) if samples else (0, 0)
        server_log = log_path.read_text(errors="replace")
        pending = [int(m) for m in re.findall(r"(\d+) answers pending", server_log)]
        ok = [login["seconds"] for login in logins if login["outcome"] == "ok"]
        rss_max = max([s["rss_mb"] for s in samples] + [rss1])
        return {
            "seconds": args.seconds,
            "rate": args.rate,
            "addresses": args.addresses,
            "sent": sent,
            "server_died_at": died_at,
            "server_log_tail": server_log.strip().splitlines()[-1:] if died_at is not None else [],
            "rss_mb": {"start": round(rss0, 1), "end": round(rss1, 1), "max": round(rss_max, 1)},
            "rss_growth_mb": round(rss_max - rss0, 1),
            "fds": {"start": fds0, "end": fds1, "max": max([s["fds"] for s in samples] + [fds1])},
            "pending_answers_logged": {"max": max(pending), "last": pending[-1]} if pending else None,
            "logins_during_flood": {"ok": len(ok), "failed": len(logins) - len(ok),
                                    "max_ok_seconds": max(ok) if ok else None, "all": logins},
            "login_after_stop": after_stop,
            "samples": samples,
        }  # fmt: skip
    finally:
        stop(attacker, server)
        shutil.rmtree(log_path.parent, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the flood lasts (default 60)")
    parser.add_argument("--rate", type=float, default=100.0, help="wrong guesses per second (default 100)")
    parser.add_argument("--addresses", type=int, default=50, help="loopback source addresses (default 50)")
    parser.add_argument("--lifetime", type=float, default=3.0, help="s each attacking connection lives")
    parser.add_argument("--sample", type=float, default=10.0, help="s between RSS/fd samples")
    parser.add_argument("--login-every", type=float, default=30.0, help="s between legitimate logins")
    parser.add_argument("--timeout", type=float, default=10.0, help="the legitimate login's connect timeout")
    parser.add_argument("--server-src", help="run the server from this source tree (e.g. main's)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument("--idle", type=int, help="instead: this many idle connections, then 10 logins")
    parser.add_argument("--fd-limit", type=int, default=1024, help="with --idle: the server's ulimit -n")
    parser.add_argument("--attack", nargs=2, metavar=("PORT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        attack(int(args.attack[0]), args.attack[1], args.rate, args.addresses, args.seconds, args.lifetime)
        return 0
    if not 1 <= args.addresses <= 250:
        parser.error("--addresses must be 1..250 (127.0.0.2 ... 127.0.0.251)")
    random.seed(0)
    if args.idle:
        outcome = idle(args)
        print(json.dumps(outcome, indent=2))
        return 0 if outcome["logins_ok_of_10"] == 10 else 1
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        printable = {k: v for k, v in result.items() if k not in ("samples",)}
        printable["logins_during_flood"] = {k: v for k, v in result["logins_during_flood"].items() if k != "all"}
        print(json.dumps(printable, indent=2))
    after_ok = any(a["outcome"] == "ok" for a in result["login_after_stop"])
    failed = result["logins_during_flood"]["failed"] or not after_ok or result["server_died_at"] is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
