"""remrepl.protocol is sans-I/O: importing it loads no networking, async or cloud library."""

import json
import subprocess
import sys

FORBIDDEN = {"zmq", "socket", "asyncio", "paramiko", "boto3", "botocore", "selectors"}


def test_protocol_imports_no_io_library() -> None:
    # -I: without the tests' PYTHONPATH, whose network guard itself imports socket
    code = "import sys, json, remrepl.protocol; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert "remrepl.protocol" in loaded
    assert not loaded & FORBIDDEN
