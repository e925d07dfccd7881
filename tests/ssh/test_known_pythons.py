"""The interpreters ``--bootstrap`` installed into, remembered per host (remrepl/ssh/known_pythons.py)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from remrepl.ssh.known_pythons import FILE_NAME, recall, remember


def test_a_remembered_python_is_recalled_by_host_from_a_private_file(state_dir: Path) -> None:
    assert recall("me@gpu-box:22") is None
    remember("me@gpu-box:22", "~/.remrepl/venv/bin/python", "~/.remrepl/venv", "0.1.0")
    assert recall("me@gpu-box:22") == "~/.remrepl/venv/bin/python"
    assert recall("me@gpu-box:2222") is None and recall("you@gpu-box:22") is None
    file = state_dir / FILE_NAME
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    assert json.loads(file.read_text())["hosts"]["me@gpu-box:22"]["remrepl"] == "0.1.0"
    assert [p.name for p in state_dir.iterdir() if p.name.endswith(".tmp")] == []  # renamed into place


def test_an_unreadable_file_counts_as_empty_and_is_replaced(state_dir: Path) -> None:
    (state_dir / FILE_NAME).write_text("{not json")
    assert recall("me@gpu-box:22") is None
    remember("me@gpu-box:22", "/opt/venv/bin/python", "/opt/venv", "0.1.0")
    assert recall("me@gpu-box:22") == "/opt/venv/bin/python"


def test_parallel_bootstraps_each_keep_their_host(state_dir: Path) -> None:
    hosts = [f"me@w{i}:22" for i in range(16)]
    threads = [threading.Thread(target=remember, args=(h, f"/v{h}/bin/python", f"/v{h}", "0.1.0")) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [recall(h) for h in hosts] == [f"/v{h}/bin/python" for h in hosts]
