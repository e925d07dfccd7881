import socket
import subprocess
import sys

import pytest
from netguard import NetworkGuardError


def test_loopback_is_allowed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))


@pytest.mark.parametrize("address", [("8.8.8.8", 53), ("10.0.0.1", 22), ("203.0.113.7", 22)])
def test_other_addresses_are_refused(address: tuple[str, int]) -> None:
    with socket.socket() as s, pytest.raises(NetworkGuardError):
        s.connect(address)


def test_child_python_processes_are_guarded_too() -> None:
    code = "import socket; socket.socket().connect(('192.0.2.1', 22))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "NetworkGuardError" in result.stderr
