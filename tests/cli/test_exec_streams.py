"""``remrepl exec`` without a terminal: stdout and stderr stay separate and keep the order they were
written in, as ``python FILE 2>&1 > out`` shows them; and the remote code sees no terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from remrepl.launchers.local import LocalLauncher
from tests.support.cli import RUN_TIMEOUT, remrepl_command

RUNS = 20  # each one in order: the race showed in most runs
SCRIPT = """\
import sys, logging, warnings
logging.basicConfig(format="log %(message)s")
warnings.simplefilter("always")
warnings.formatwarning = lambda message, *rest: f"warn {message}\\n"
for i in range(15):
    if i % 3 == 0:
        print(f"err {i}", file=sys.stderr)
    elif i % 3 == 1:
        warnings.warn(str(i))
    else:
        logging.warning(f"{i}")
    print(f"out {i}")
print(sys.stdout.isatty(), sys.stderr.isatty())
"""


def expected() -> str:
    kinds = ("err", "warn", "log")
    return "".join(f"{kinds[i % 3]} {i}\nout {i}\n" for i in range(15)) + "False False\n"


def test_exec_into_a_file_keeps_the_written_order_in_every_run(launcher: LocalLauncher, tmp_path: Path) -> None:
    script = tmp_path / "alternate.py"
    script.write_text(textwrap.dedent(SCRIPT))
    local = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=30)
    assert local.stderr.startswith("err 0\nwarn 1\nlog 2\n")  # what python writes, for the record
    record = tmp_path / "server.json"
    assert launcher.info is not None
    launcher.info.write(record, include_secret=True)  # the launcher's key: no password to derive 20 times
    args = ["--connection-file", str(record)]
    for run in range(RUNS):
        out = tmp_path / f"out-{run}.txt"
        with open(out, "wb") as sink:  # 2>&1 > out: one file, the order in which the writes reached it
            done = subprocess.run(
                [*remrepl_command(), "exec", *args, str(script)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
                timeout=RUN_TIMEOUT,
                check=False,
            )
        assert done.returncode == 0, out.read_text()
        assert out.read_text() == expected(), f"run {run}"
