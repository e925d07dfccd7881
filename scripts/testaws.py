"""A moto server on 127.0.0.1 for tests and benchmarks: boto3 talks to it, never to real AWS.

Where: ``scripts/testaws.py``, stdlib-only like ``testhosts.py``. The test suite's fixtures
``moto_server``/``aws`` (tests/support/plugin.py) and ``scripts/benchkit/sections/ec2.py`` both
import it as ``testaws`` (see testhosts.py).

    with moto_server(log_path) as endpoint:           # http://127.0.0.1:PORT
        os.environ.update(aws_environment(endpoint, empty_file))
        boto3.client("ec2").describe_instances()       # answered by moto

Needs moto with its server extras (``pip install 'moto[ec2,ssm]' flask flask-cors``: the ``test`` extra).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 30.0


class MotoError(RuntimeError):
    """The moto server could not be started."""


def loopback_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """``python -m moto.server`` on a free 127.0.0.1 port until the block ends; its endpoint URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with loopback_opener().open(f"{endpoint}/moto-api/data.json", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MotoError(
                        f"the moto server did not start (pip install 'moto[ec2,ssm]' flask flask-cors):\n"
                        f"{log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reset(endpoint: str) -> None:
    """Forget every resource: a fresh account."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with loopback_opener().open(request, timeout=10):
        pass


def aws_environment(endpoint: str, empty_file: Path) -> dict[str, str]:
    """What boto3 (here and in every process started with it) needs to talk to ``endpoint`` with fake
    credentials, in us-east-1, reading no real ~/.aws file and never asking an instance metadata service.
    Unset ``AWS_PROFILE``, ``AWS_SESSION_TOKEN`` and any ``AWS_ENDPOINT_URL_*`` as well."""
    empty_file.write_text("")
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(empty_file),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty_file),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
