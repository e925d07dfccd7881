"""remrepl.protocol is sans-I/O: importing it loads no networking, async or cloud library."""

import json
import subprocess
import sys

FORBIDDEN = {"zmq", "socket", "asyncio", "paramiko", "boto3", "botocore", "selectors"}


def test_protocol_imports_no_io_library() -> None:
    # -I: without the tests' PYTHONPATH, whose network guard itself imports socket
    # Every module of the package (its names load on first use, so importing the package alone loads few).
    code = (
        "import sys, json, importlib, pkgutil, remrepl.protocol as p\n"
        "for m in pkgutil.iter_modules(p.__path__, 'remrepl.protocol.'): importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert {"remrepl.protocol", "remrepl.protocol.codec", "remrepl.protocol.kernel_channel"} <= loaded
    assert not loaded & FORBIDDEN


def test_the_kernel_starts_without_dataclasses() -> None:
    """The kernel's start is on every restart's path: its control channel's messages are NamedTuples, and
    the codec imports ``dataclasses`` (with ``inspect``) only for the channels that use them."""
    code = "import sys, remrepl.server.kernel.main\nprint(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
