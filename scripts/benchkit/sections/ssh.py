"""The ``ssh`` section: remrepl over SSH on loopback, next to its floor.

Against a private sshd on 127.0.0.1 (scripts/testhosts.py: its own host keys, client key and ssh_config;
the "remote" Python is this interpreter):

  exec       wall time of ``remrepl exec --launch=ssh://bench hi.py`` (``print("hi")``) from start to
             exit, median of RUNS runs, next to its floor: a fresh Python doing a paramiko connect (host key
             checked, key login) + ``exec_command("PYTHON -c 'import remrepl'")`` until its exit status, and the
             server's own
             start-up (``remrepl.launch()`` locally: start to ready line). Target: exec <= 1.5 x (floor +
             start-up).
  roundtrip  ``1+1`` round trips (median, µs) through the SSH tunnel (the default) and with ``--direct``
             (CurveZMQ straight to the server's port); ratio tunnel/direct.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

from testhosts import SSHHosts  # scripts/ is on sys.path when bench.py runs

from ..commands import remrepl_command, timed_command
from ..common import BenchError, JSONDict, log, ratio, timing_summary
from ..harness import Bench, Section, Target
from ..text import num

EXEC_SCRIPT = 'print("hi")\n'
TARGETS = (
    Target(
        "ssh", "exec_over_floor", "<=", 1.5, "`exec --launch=ssh://` / (paramiko connect+exec floor + server start-up)"
    ),
)


FLOOR_CODE = """
import sys, paramiko
port, user, key, known, python = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
client = paramiko.SSHClient()
client.load_host_keys(known)
client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect("127.0.0.1", port=int(port), username=user, key_filename=key, look_for_keys=False, allow_agent=False)
_, stdout, _ = client.exec_command(python + " -c 'import remrepl'")
status = stdout.channel.recv_exit_status()
client.close()
print("hi" if status == 0 else status)
"""


def _floor_once(hosts: SSHHosts, port: int, timeout: float) -> float:
    """A fresh Python (as ``remrepl exec`` is one): paramiko connect with RejectPolicy against the known_hosts,
    key login, ``exec_command("PYTHON -c 'import remrepl'")`` until its exit status."""
    args = [str(port), hosts.user, str(hosts.client_key), str(hosts.known_hosts), sys.executable]
    return timed_command([sys.executable, "-c", FLOOR_CODE, *args], timeout, b"hi\n")


def _server_startup_once() -> float:
    import remrepl

    start = time.perf_counter()
    server = remrepl.launch()
    elapsed = time.perf_counter() - start
    server.close()
    return elapsed


def _median_of(runs: int, once: Callable[[], float]) -> JSONDict:
    once()  # warm-up: file caches, and a check that it works
    times = [once() for _ in range(runs)]
    return {"median_s": statistics.median(times), "max_s": max(times), "runs_s": times}


def _round_trips(hosts: SSHHosts, iterations: int, warmup: int, direct: bool) -> JSONDict:
    from remrepl.launchers.ssh.launcher import SSHLauncher

    launcher = SSHLauncher("bench", ssh_config=str(hosts.ssh_config), remote_python=sys.executable, direct=direct)
    launcher.start(60)
    try:
        with launcher.connect() as session:
            for _ in range(warmup):
                session.run("1+1")
            times = []
            for _ in range(iterations):
                start = time.perf_counter()
                value = session.run("1+1").value
                times.append(time.perf_counter() - start)
                if value != "2":
                    raise BenchError(f"1+1 gave {value!r}")
        return timing_summary(times)
    finally:
        launcher.close()


def run(bench: Bench) -> JSONDict:
    args = bench.args
    out: JSONDict = {"runs": args.exec_runs, "iterations": args.iterations, "script": EXEC_SCRIPT.strip()}
    remote_env = {"REMREPL_STATE_DIR": str(bench.workdir / "remote-state")}
    if os.environ.get("PYTHONPATH"):  # e.g. the tests' socket guard: remote commands get it too
        remote_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with SSHHosts(bench.workdir / "ssh", set_env=remote_env) as hosts:
        started = bench.measure("ssh: start a private sshd", lambda: {"port": hosts.start("bench").port})
        if "error" in started:
            return {**out, "sshd": started, "ratios": {}}
        port = started["port"]
        log(f"ssh: sshd on 127.0.0.1:{port}")
        script = bench.workdir / "hi.py"
        script.write_text(EXEC_SCRIPT)
        cmd = [
            *remrepl_command(),
            "exec",
            "--launch=ssh://bench",
            "--ssh-config",
            str(hosts.ssh_config),
            "--remote-python",
            sys.executable,
            str(script),
        ]
        runs = args.exec_runs
        out["command"] = cmd
        out["exec"] = bench.measure(
            "ssh: remrepl exec --launch=ssh://",
            lambda: _median_of(runs, lambda: timed_command(cmd, args.timeout, b"hi\n")),
        )
        out["floor"] = bench.measure(
            "ssh: paramiko connect + exec", lambda: _median_of(runs, lambda: _floor_once(hosts, port, args.timeout))
        )
        out["startup"] = bench.measure(
            "ssh: server start-up (local launch)", lambda: _median_of(runs, _server_startup_once)
        )
        n, warmup = args.iterations, args.warmup
        out["tunnel"] = bench.measure("ssh: 1+1 through the tunnel", lambda: _round_trips(hosts, n, warmup, False))
        out["direct"] = bench.measure("ssh: 1+1 --direct", lambda: _round_trips(hosts, n, warmup, True))
    floor = out["floor"].get("median_s")
    startup = out["startup"].get("median_s")
    out["ratios"] = {
        "exec_median_s": out["exec"].get("median_s"),
        "exec_over_floor": ratio(out["exec"].get("median_s"), floor + startup if floor and startup else None),
        "tunnel_over_direct": ratio(out["tunnel"].get("median_us"), out["direct"].get("median_us")),
    }
    return out


def render(section: JSONDict) -> list[str]:

    def cell(data: JSONDict, key: str, fmt: str, unit: str) -> str:
        return f"ERROR: {data['error']}"[:100] if "error" in data else num(data.get(key), fmt, unit)

    rows = [
        ("remrepl exec --launch=ssh://bench hi.py", cell(section.get("exec", {}), "median_s", ".3f", " s")),
        ("floor: python, paramiko connect, exec", cell(section.get("floor", {}), "median_s", ".3f", " s")),
        ("server start-up (local launch to ready)", cell(section.get("startup", {}), "median_s", ".3f", " s")),
        ("1+1 round trip through the SSH tunnel", cell(section.get("tunnel", {}), "median_us", ".0f", " µs")),
        ("1+1 round trip --direct", cell(section.get("direct", {}), "median_us", ".0f", " µs")),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        "",
        f"SSH on loopback (medians; exec: {section.get('runs')} runs, round trips: {section.get('iterations')})",
    ]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    ratios = section.get("ratios", {})
    lines.append(f"  tunnel / direct round trip: {num(ratios.get('tunnel_over_direct'), '.2f', 'x')}")
    return lines


SECTION = Section(
    name="ssh",
    summary="remrepl over a private sshd: `exec --launch=ssh://` vs its floor; 1+1 via the tunnel and --direct",
    run=run,
    render=render,
    targets=TARGETS,
    quick={"exec_runs": 1, "iterations": 20, "warmup": 5},
)
