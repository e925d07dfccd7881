"""The ``ec2`` section: ``up`` and ``down`` of an EC2 head node, stage by stage.

On a moto server on 127.0.0.1 (AWS) and a private sshd (scripts/testhosts.py) standing in for the head:
moto's public IPs 54.214.* are mapped to it by the ssh_config, the head's Python is this interpreter (no
bootstrap), the head's shutdown command is ``true``. Each run: ``EC2Launcher(...).start()`` (identity,
create, instance running, SSH port, SSH login, reaper, server ready), ``close()`` (the server stops, the
cluster stays), then ``teardown`` (``remrepl down``). The figures show where the time goes and that no
stage waits a fixed time: every wait is a poll with back-off that returns as soon as its condition holds
(the seed script's ``Sys.sleep(10)`` is the anti-pattern). Medians over ``--ec2-runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import testaws  # scripts/ is on sys.path when bench.py runs
from testhosts import SSHHosts

from ..common import BenchError, JSONDict, log, positive_int
from ..harness import Bench, Section, Target
from ..text import num

TARGETS = (
    Target("ec2", "up_median_s", "<", 10.0, "`up` on moto + loopback sshd, median (s): less than the seed's one sleep"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ec2 section")
    group.add_argument("--ec2-runs", type=positive_int, default=3, help="up/down cycles timed (default 3)")


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """testaws's moto server, and boto3 pointed at it (fake credentials) until the block ends."""
    env = testaws.aws_environment("", workdir / "aws-empty")
    saved = {name: os.environ.get(name) for name in [*env, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    try:
        with testaws.moto_server(workdir / "moto.log") as endpoint:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                os.environ.pop(name, None)
            os.environ.update(testaws.aws_environment(endpoint, workdir / "aws-empty"))
            yield endpoint
    except testaws.MotoError as exc:
        raise BenchError(str(exc)) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reapers(remote_state: Path) -> list[int]:
    """Reapers the runs left on the "head" (they detach from SSH): found by their state directory."""
    marker = f"REMREPL_STATE_DIR={remote_state}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker in environ and b"remrepl.reaper" in cmdline:
                found.append(int(entry))
    return found


def _one_cycle(hosts: SSHHosts, number: int) -> JSONDict:
    from remrepl.launchers.ec2.launcher import EC2Launcher
    from remrepl.launchers.ec2.settings import EC2Settings

    settings = EC2Settings(
        os="al2023",
        allow_cidr=("127.0.0.1/32",),
        ssh_config=str(hosts.ssh_config),
        remote_python=sys.executable,
        bootstrap=False,
        head_shutdown_command=("true",),
        yes=True,
    )
    launcher = EC2Launcher(f"bench-{number}", settings=settings, keep=True, notify=lambda _: None)
    start = time.perf_counter()
    launcher.start(60)
    up = time.perf_counter() - start
    launcher.close()
    launcher.created, launcher.keep = True, False
    start = time.perf_counter()
    launcher.close()  # what `remrepl down` does: teardown by tag
    down = time.perf_counter() - start
    return {
        "up_s": up,
        "down_s": down,
        "stages_s": dict(launcher.timings.stages),
        "polls": dict(launcher.timings.polls),  # 1 each: ready at the first probe, no fixed wait
    }


def run(bench: Bench) -> JSONDict:
    runs = bench.args.ec2_runs
    out: JSONDict = {"runs": runs}
    remote_state = bench.workdir / "ec2-remote-state"
    remote_env = {"REMREPL_STATE_DIR": str(remote_state)}
    if os.environ.get("PYTHONPATH"):
        remote_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    try:
        with moto_server(bench.workdir) as endpoint, SSHHosts(bench.workdir / "ec2-ssh", set_env=remote_env) as hosts:
            log(f"ec2: moto at {endpoint}")
            hosts.start("head")
            hosts.map("54.214.*", "head")

            def cycles() -> JSONDict:
                results = [_one_cycle(hosts, i) for i in range(runs + 1)][1:]  # the first warms caches
                stages = {name for r in results for name in r["stages_s"]}
                return {
                    "up_median_s": statistics.median(r["up_s"] for r in results),
                    "down_median_s": statistics.median(r["down_s"] for r in results),
                    "stages_median_s": {
                        name: statistics.median(r["stages_s"].get(name, 0.0) for r in results) for name in stages
                    },
                    "polls_max": {
                        name: max(r["polls"].get(name, 0) for r in results) for name in ("SSH port", "SSH login")
                    },
                    "runs": results,
                }

            out["cycles"] = bench.measure("ec2: up and down", cycles)
    finally:
        for pid in _reapers(remote_state):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    cycles_data = out.get("cycles", {})
    out["ratios"] = {
        "up_median_s": cycles_data.get("up_median_s"),
        "down_median_s": cycles_data.get("down_median_s"),
    }
    return out


ORDER = (
    "identity",
    "plan",
    "create",
    "instance running",
    "SSH port",
    "SSH login",
    "reaper",
    "server ready",
    "teardown",
)


def render(section: JSONDict) -> list[str]:
    cycles = section.get("cycles", {})
    lines = ["", f"EC2 head on moto + loopback sshd (medians of {section.get('runs')} up/down cycles)"]
    if "error" in cycles:
        return [*lines, f"  ERROR: {cycles['error']}"[:200]]
    lines.append(f"  remrepl up (start to server ready)  {num(cycles.get('up_median_s'), '.3f', ' s')}")
    stages = cycles.get("stages_median_s", {})
    polls = cycles.get("polls_max", {})
    for name in [*ORDER, *sorted(set(stages) - set(ORDER))]:
        if name in stages:
            probes = f"  (at most {polls[name]} probe{'s' if polls[name] != 1 else ''})" if name in polls else ""
            lines.append(f"    {name.ljust(32)} {num(stages[name], '.3f', ' s')}{probes}")
    lines.append(f"  remrepl down (teardown by tag)      {num(cycles.get('down_median_s'), '.3f', ' s')}")
    return lines


SECTION = Section(
    name="ec2",
    summary="`up` and `down` of an EC2 head on a moto server + a loopback sshd, stage by stage",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"ec2_runs": 1},
)
