"""``remrepl exec`` of a script that maps on a cluster: progress arrives as plain lines on a stderr that is
not a terminal, and stdout holds only what the script printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers


def test_exec_shows_plain_progress_lines_on_a_non_tty_stderr(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import time, remrepl\n"
        "def slow(x):\n"
        "    time.sleep(0.01)\n"
        "    return x + 1\n"
        "with remrepl.cluster(workers=2) as cl:\n"
        "    print(sum(cl.map(slow, range(300))))\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [*remrepl_command(), "exec", "--launch", str(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{sum(range(1, 301))}\n"  # no progress in stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("[remrepl] map slow:")]
    assert lines, result.stderr
    assert lines[-1].startswith("[remrepl] map slow: 300/300 (100%)") and "done in" in lines[-1]
    assert "\r" not in result.stderr and "\x1b" not in result.stderr  # plain lines, no terminal codes
