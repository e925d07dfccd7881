"""A live smoke test against real AWS: skipped unless ``REMREPL_LIVE_AWS=1`` (it costs a few cents).

It runs the real CLI in child processes WITHOUT the tests' socket guard (which allows only loopback), with
your own AWS credentials and region (boto3's chain) and ssh setup: ``up`` a small head, run a line on it
through ``exec --launch ec2:NAME``, ``status``; and ``down`` in a ``finally``, whatever happened.
Optional: ``REMREPL_LIVE_CIDR`` (default: your detected address), ``REMREPL_LIVE_TYPE`` (default t3.micro).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command

pytestmark = pytest.mark.skipif(os.environ.get("REMREPL_LIVE_AWS") != "1", reason="set REMREPL_LIVE_AWS=1 to run")
GUARD = str(Path(__file__).resolve().parents[1] / "_netguard")


def live(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != GUARD]
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["PYTHONPATH"] = os.pathsep.join(path)
    return subprocess.run(
        [*remrepl_command(), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.timeout(2400)
def test_up_exec_status_down_on_real_aws(tmp_path: Path) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    cidr = ["--allow-cidr", os.environ["REMREPL_LIVE_CIDR"]] if os.environ.get("REMREPL_LIVE_CIDR") else []
    kind = os.environ.get("REMREPL_LIVE_TYPE", "t3.micro")
    script = tmp_path / "hello.py"
    script.write_text("import os; print('hello from', os.environ['REMREPL_EC2_INSTANCE_ID'])\n")
    try:
        up = live("up", name, "--yes", "--instance-type", kind, "--idle-timeout", "15m", "--max-lifetime", "1h", *cidr)
        assert up.returncode == 0, up.stderr
        ran = live("exec", "--launch", f"ec2:{name}", str(script))
        assert ran.returncode == 0 and ran.stdout.startswith("hello from i-"), ran.stderr
        status = live("status")
        assert name in status.stdout, status
    finally:
        down = live("down", name)
    assert down.returncode == 0, down.stderr
    assert name not in live("status").stdout
