"""The ``transfer`` section of scripts/bench.py: file transfer throughput on loopback.

The same file of MB megabytes (random bytes, so nothing compresses) goes up and comes back:

- remrepl: ``Session.upload`` then ``Session.download`` on a local server (``remrepl.launch()``: CurveZMQ,
  the supervisor writes and hashes; both ends check SHA-256, write a temporary file and rename it);
- paramiko SFTP: ``SFTPClient.put`` then ``get`` against a private OpenSSH sshd on 127.0.0.1 started for
  the run (``scripts/testhosts.py``: its own host key, client key, known_hosts; key login only).

Times run from the call to its return (the file complete at its target); every copy is checked against
the original's SHA-256 and removed afterwards. Each is repeated RUNS times (``--transfer-runs``) and the
fastest run counts, for both contenders alike (the machine may be shared; ``*_runs_s`` keep them all).
MB/s are 10^6 bytes/s. Ratios: remrepl / SFTP throughput, upload and download (target >= 2x each).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_engines import BenchError, log, ratio  # scripts/ is on sys.path when bench.py runs

JSONDict = dict[str, Any]
MB = 1_000_000
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("transfer", "upload_over_sftp", ">=", 2.0, "upload: remrepl throughput / paramiko SFTP put"),
    ("transfer", "download_over_sftp", ">=", 2.0, "download: remrepl throughput / paramiko SFTP get"),
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


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _numbers(size: int, up_s: list[float], down_s: list[float]) -> JSONDict:
    return {
        "upload_s": min(up_s),
        "download_s": min(down_s),
        "upload_mb_per_s": size / min(up_s) / MB,
        "download_mb_per_s": size / min(down_s) / MB,
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


def remrepl_transfer(session: Any, source: Path, expected: str, workdir: Path, runs: int) -> JSONDict:
    up, down = workdir / "remrepl-up", workdir / "remrepl-down"
    up.mkdir()
    down.mkdir()
    up_s, down_s = [], []
    for _ in range(runs):
        up_s.append(_timed(lambda: session.upload(source, str(up))))
        down_s.append(_timed(lambda: session.download(str(up / source.name), down)))
        _check(down / source.name, expected, "remrepl download")
    _check(up / source.name, expected, "remrepl upload")
    return _numbers(source.stat().st_size, up_s, down_s)


def sftp_transfer(source: Path, expected: str, workdir: Path, timeout: float, runs: int) -> JSONDict:
    import paramiko
    from testhosts import SSHHosts

    up, down = workdir / "sftp-up", workdir / "sftp-down"
    up.mkdir()
    down.mkdir()
    with SSHHosts(workdir / "ssh") as hosts:
        server = hosts.start("bench")
        client = paramiko.SSHClient()
        client.load_host_keys(str(hosts.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
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
            up_s, down_s = [], []
            for _ in range(runs):
                up_s.append(_timed(lambda: sftp.put(str(source), str(up / source.name))))
                down_s.append(_timed(lambda: sftp.get(str(up / source.name), str(down / source.name))))
                _check(down / source.name, expected, "SFTP get")
            sftp.close()
        finally:
            client.close()
    _check(up / source.name, expected, "SFTP put")
    return _numbers(source.stat().st_size, up_s, down_s)


def section_transfer(bench: Any) -> JSONDict:
    megabytes, runs = bench.args.transfer_mb, bench.args.transfer_runs
    source = bench.workdir / "transfer.bin"
    log(f"transfer: writing {megabytes} MB of random bytes")
    expected = make_file(source, megabytes)
    out: JSONDict = {"megabytes": megabytes, "bytes": source.stat().st_size, "runs": runs}
    try:
        out["remrepl"] = bench.measure(
            "transfer: remrepl upload + download",
            lambda: remrepl_transfer(bench.remrepl().session, source, expected, bench.workdir, runs),
        )
        out["sftp"] = bench.measure(
            "transfer: paramiko SFTP put + get",
            lambda: sftp_transfer(source, expected, bench.workdir, bench.args.timeout, runs),
        )
    finally:
        source.unlink(missing_ok=True)
    out["ratios"] = {
        "upload_over_sftp": ratio(out["remrepl"].get("upload_mb_per_s"), out["sftp"].get("upload_mb_per_s")),
        "download_over_sftp": ratio(out["remrepl"].get("download_mb_per_s"), out["sftp"].get("download_mb_per_s")),
    }
    return out


def render_transfer(s: JSONDict, num: Callable[..., str], cells: Callable[..., list[str]]) -> list[list[str]]:
    """The section's table rows (bench.py formats them)."""

    def row(d: JSONDict) -> list[str]:
        return [
            num(d["upload_mb_per_s"], ",.1f", " MB/s"),
            num(d["upload_s"], ".2f", " s"),
            num(d["download_mb_per_s"], ",.1f", " MB/s"),
            num(d["download_s"], ".2f", " s"),
        ]

    return [
        ["", "upload", "", "download", ""],
        ["remrepl (CurveZMQ, SHA-256 checked)", *cells(s["remrepl"], row, 4)],
        ["paramiko SFTP (OpenSSH sshd)", *cells(s["sftp"], row, 4)],
    ]
