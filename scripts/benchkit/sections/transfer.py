"""The ``transfer`` section: file transfer throughput on loopback.

The same file of MB megabytes (random bytes, so nothing compresses) goes up and comes back:

- remrepl: ``Session.upload`` then ``Session.download`` on a local server (``remrepl.launch()``: CurveZMQ,
  the supervisor writes and hashes; both ends check SHA-256, write a temporary file and rename it);
- paramiko SFTP: ``SFTPClient.put`` then ``get`` against a private OpenSSH sshd on 127.0.0.1 started for
  the run (``scripts/testhosts.py``: its own host key, client key, known_hosts; key login only).

Times run from the call to its return (the file complete at its target); every copy is checked against
the original's SHA-256 and removed afterwards. RUNS runs (``--transfer-runs``), each moving the file with
both contenders in turn, who goes first alternating from run to run (ABBA: neither always meets the other's
disk write-back), and the fastest run of each counts; the median is reported too (the machine may be
shared: interleaving, alternation and best-of meet both with the same load; ``*_runs_s`` keep every run).
MB/s are 10^6 bytes/s. Ratios: remrepl / SFTP throughput, upload and download (target >= 2x each, on the
best runs; ``*_median`` ratios on the medians).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import BenchError, JSONDict, log, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import engine_cells, num, table

MB = 1_000_000
TARGETS = (
    Target("transfer", "upload_over_sftp", ">=", 2.0, "upload: remrepl throughput / paramiko SFTP put"),
    Target("transfer", "download_over_sftp", ">=", 2.0, "download: remrepl throughput / paramiko SFTP get"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("transfer section")
    group.add_argument(
        "--transfer-mb", type=positive_int, default=200, help="size of the transferred file in MB (default 200)"
    )
    group.add_argument(
        "--transfer-runs",
        type=positive_int,
        default=5,
        help="transfers each way, the fastest counts, the median is shown too (default 5)",
    )


def make_file(path: Path, megabytes: int) -> str:
    """Write ``megabytes`` MB of random bytes to ``path``, a chunk at a time; its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(megabytes):
            block = os.urandom(MB)
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _timed_call(run: Callable[[Path, Path], object], a: Path, b: Path) -> float:
    start = time.perf_counter()
    run(a, b)
    return time.perf_counter() - start


def _numbers(size: int, up_s: list[float], down_s: list[float]) -> JSONDict:
    return {
        "upload_s": min(up_s),
        "download_s": min(down_s),
        "upload_mb_per_s": size / min(up_s) / MB,
        "download_mb_per_s": size / min(down_s) / MB,
        "upload_median_mb_per_s": size / statistics.median(up_s) / MB,
        "download_median_mb_per_s": size / statistics.median(down_s) / MB,
        "upload_runs_s": up_s,
        "download_runs_s": down_s,
        "checksums_match": True,
    }


def _check(copy: Path, expected: str, what: str) -> None:
    try:
        got = sha256(copy)
    finally:
        copy.unlink(missing_ok=True)
    if got != expected:
        raise BenchError(f"{what}: SHA-256 {got} differs from the original's {expected}")


@dataclass
class Contender:
    """One way of moving the file: ``put(source, remote_dir)``, ``get(remote_file, local_dir)``."""

    name: str
    put: Callable[[Path, Path], object]
    get: Callable[[Path, Path], object]
    up_s: list[float] = field(default_factory=list)
    down_s: list[float] = field(default_factory=list)
    error: str = ""


def remrepl_contender(session: Any) -> Contender:
    return Contender(
        "remrepl",
        lambda source, remote: session.upload(source, str(remote)),
        lambda remote, local: session.download(str(remote), local),
    )


def sftp_contender(bench: Bench) -> Contender:
    """paramiko SFTP against a private sshd, both closed by the bench's exit stack."""
    import paramiko
    from testhosts import SSHHosts

    hosts = bench.stack.enter_context(SSHHosts(bench.workdir / "sftp"))
    server = hosts.start("bench")
    client = paramiko.SSHClient()
    bench.stack.callback(client.close)
    client.load_host_keys(str(hosts.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    timeout = bench.args.timeout
    client.connect(
        server.host,
        server.port,
        username=hosts.user,
        key_filename=str(hosts.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
    )
    sftp = client.open_sftp()
    sftp.get_channel().settimeout(timeout)  # type: ignore[union-attr]
    return Contender(
        "sftp",
        lambda source, remote: sftp.put(str(source), str(remote / source.name)),
        lambda remote, local: sftp.get(str(remote), str(local / remote.name)),
    )


def run_interleaved(contenders: list[Contender], source: Path, expected: str, workdir: Path, runs: int) -> None:
    """Each run moves the file with every contender in turn (up, then down), so a change in the machine's
    load meets them alike, the first one alternating from run to run; every copy is checked, then removed."""
    for c in contenders:
        (workdir / f"{c.name}-up").mkdir()
        (workdir / f"{c.name}-down").mkdir()
    for run in range(runs):
        order = contenders if run % 2 == 0 else contenders[::-1]
        for step in ("up", "down"):
            for c in order:
                if c.error:
                    continue
                up, down = workdir / f"{c.name}-up", workdir / f"{c.name}-down"
                try:
                    if step == "up":
                        c.up_s.append(_timed_call(c.put, source, up))
                    else:
                        c.down_s.append(_timed_call(c.get, up / source.name, down))
                        _check(down / source.name, expected, f"{c.name} download")
                        _check(up / source.name, expected, f"{c.name} upload")
                except Exception as exc:
                    c.error = f"{type(exc).__name__}: {exc}"
                    log(f"FAILED transfer: {c.name}: {c.error}")


def run(bench: Bench) -> JSONDict:
    megabytes, runs = bench.args.transfer_mb, bench.args.transfer_runs
    source = bench.workdir / "transfer.bin"
    log(f"transfer: writing {megabytes} MB of random bytes")
    expected = make_file(source, megabytes)
    size = source.stat().st_size
    out: JSONDict = {"megabytes": megabytes, "bytes": size, "runs": runs}
    contenders: list[Contender] = []
    try:
        starters: list[tuple[str, Callable[[], Contender]]] = [
            ("remrepl", lambda: remrepl_contender(bench.remrepl().session)),
            ("sftp", lambda: sftp_contender(bench)),
        ]
        for name, start in starters:
            try:
                contenders.append(start())
            except Exception as exc:
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
                bench.errors.append(f"transfer: {name} did not start: {out[name]['error']}")
        log(f"transfer: {runs} run(s) of {', '.join(c.name for c in contenders)}, interleaved")
        run_interleaved(contenders, source, expected, bench.workdir, runs)
    finally:
        source.unlink(missing_ok=True)
    for c in contenders:
        if c.error:
            out[c.name] = {"error": c.error}
            bench.errors.append(f"transfer: {c.name}: {c.error}")
        else:
            out[c.name] = _numbers(size, c.up_s, c.down_s)
    out["ratios"] = {
        "upload_over_sftp": ratio(out["remrepl"].get("upload_mb_per_s"), out["sftp"].get("upload_mb_per_s")),
        "download_over_sftp": ratio(out["remrepl"].get("download_mb_per_s"), out["sftp"].get("download_mb_per_s")),
        "upload_over_sftp_median": ratio(
            out["remrepl"].get("upload_median_mb_per_s"), out["sftp"].get("upload_median_mb_per_s")
        ),
        "download_over_sftp_median": ratio(
            out["remrepl"].get("download_median_mb_per_s"), out["sftp"].get("download_median_mb_per_s")
        ),
    }
    return out


def render(s: JSONDict) -> list[str]:

    def row(d: JSONDict) -> list[str]:
        return [
            num(d["upload_mb_per_s"], ",.1f", " MB/s"),
            num(d["upload_s"], ".2f", " s"),
            num(d["upload_median_mb_per_s"], ",.1f", " MB/s"),
            num(d["download_mb_per_s"], ",.1f", " MB/s"),
            num(d["download_s"], ".2f", " s"),
            num(d["download_median_mb_per_s"], ",.1f", " MB/s"),
        ]

    ratios = s["ratios"]
    heading = f"File transfer on loopback: {s['bytes'] / 1e6:,.0f} MB up, then back down (best of {s['runs']})"
    return [
        "",
        heading,
        *table(
            [
                ["", "upload best", "", "median", "download best", "", "median"],
                ["remrepl (CurveZMQ, SHA-256 checked)", *engine_cells(s["remrepl"], row, 6)],
                ["paramiko SFTP (OpenSSH sshd)", *engine_cells(s["sftp"], row, 6)],
                [
                    "remrepl / SFTP",
                    num(ratios["upload_over_sftp"], ".2f", "x"),
                    "",
                    num(ratios["upload_over_sftp_median"], ".2f", "x"),
                    num(ratios["download_over_sftp"], ".2f", "x"),
                    "",
                    num(ratios["download_over_sftp_median"], ".2f", "x"),
                ],
            ]
        ),
    ]


SECTION = Section(
    name="transfer",
    summary="upload then download a file: remrepl vs paramiko SFTP on a private sshd",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"transfer_mb": 2, "transfer_runs": 1},
)
