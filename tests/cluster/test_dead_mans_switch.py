"""The remote worker's dead man's switch: a worker that lost its scheduler runs the given command.

The tests ALWAYS pass a harmless command (``touch``): never shutdown (they run as root on this machine).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl.cluster.tls import ClusterCertificates
from tests.support.waiting import holds_for, wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers

SCHEDULER = """
import asyncio, json, sys
from distributed import Scheduler
from distributed.security import Security
c = json.loads(sys.stdin.readline())
async def main():
    security = Security(require_encryption=True, tls_ca_file=c["ca"], tls_scheduler_cert=c["cert"],
                        tls_scheduler_key=c["key"])
    async with Scheduler(host="127.0.0.1", port=0, protocol="tls", security=security, dashboard=False,
                         dashboard_address=None) as s:
        print(s.address, flush=True)
        await asyncio.sleep(600)
asyncio.run(main())
"""


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(30)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def certs() -> ClusterCertificates:
    return ClusterCertificates.generate()


@pytest.fixture
def scheduler(certs: ClusterCertificates) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SCHEDULER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    pem = {"ca": certs.ca_pem, "cert": certs.scheduler.cert_pem, "key": certs.scheduler.key_pem}
    process.stdin.write(json.dumps(pem) + "\n")
    process.stdin.flush()
    address = process.stdout.readline().strip()
    assert address.startswith("tls://127.0.0.1:"), address
    try:
        yield process, address
    finally:
        _stop(process)


def armed_worker(certs: ClusterCertificates, address: str, fired: Path) -> subprocess.Popen[str]:
    """A worker whose switch (after 1 s without the scheduler) creates ``fired``: never a shutdown."""
    switch = ["--on-lost-scheduler", f"touch {shlex.quote(str(fired))}", "--lost-scheduler-after", "1"]
    return start_worker(certs, address, *switch)


def start_worker(certs: ClusterCertificates, address: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "remrepl.cluster.remote_worker", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    config = {
        "scheduler": address,
        "name": "switch-test",
        "host": "127.0.0.1",
        "nthreads": 1,
        "ca_pem": certs.ca_pem,
        "cert_pem": certs.worker.cert_pem,
        "key_pem": certs.worker.key_pem,
    }
    process.stdin.write(json.dumps(config) + "\n")
    process.stdin.flush()
    reply = json.loads(process.stdout.readline())
    assert "ready" in reply, reply
    return process


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    try:
        wait_until(path.exists, timeout, "the command to run")
    except AssertionError:
        said = process.stderr.read() if process.poll() is not None and process.stderr else "(still running)"
        raise AssertionError(f"the command did not run; the worker said: {said}") from None


def test_a_worker_that_lost_its_scheduler_runs_the_command(
    certs: ClusterCertificates, scheduler: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    fired = tmp_path / "fired"
    process, address = scheduler
    worker = armed_worker(certs, address, fired)
    try:
        # a few probes answered while the scheduler lives (not a timing assertion)
        holds_for(lambda: not fired.exists(), 0.5, "the switch to stay quiet while the scheduler lives")
        os.kill(process.pid, signal.SIGKILL)
        wait_for(fired, worker)
        assert worker.wait(60) == 0  # and the worker ends itself afterwards
    finally:
        _stop(worker)


def test_a_head_that_vanished_without_a_word_still_fires_the_switch(
    certs: ClusterCertificates, scheduler: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    fired = tmp_path / "fired"
    process, address = scheduler
    worker = armed_worker(certs, address, fired)
    try:
        assert worker.stdin is not None
        worker.stdin.close()  # the SSH channel died with the head: no stop message
        os.kill(process.pid, signal.SIGKILL)
        wait_for(fired, worker)
        assert worker.wait(60) == 0
    finally:
        _stop(worker)


def test_a_worker_stopped_by_the_head_exits_without_running_the_command(
    certs: ClusterCertificates, scheduler: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    fired = tmp_path / "fired"
    _, address = scheduler
    worker = armed_worker(certs, address, fired)
    try:
        assert worker.stdin is not None
        worker.stdin.write(json.dumps({"stop": True}) + "\n")
        worker.stdin.close()
        assert worker.wait(60) == 0
        assert not fired.exists()
    finally:
        _stop(worker)


def test_bad_switch_options_are_refused() -> None:
    for args in (["--lost-scheduler-after", "0"], ["--lost-scheduler-after", "x"], ["--on-lost-scheduler", " "]):
        result = subprocess.run(
            [sys.executable, "-m", "remrepl.cluster.remote_worker", *args],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, args
        assert "--lost-scheduler-after" in result.stderr or "--on-lost-scheduler" in result.stderr
