"""An idle ``remote>`` prompt uses no CPU: the thread that shows background output sleeps in its poll.

A busy loop there is a correctness bug (a core burnt for as long as the prompt is open, on a laptop's
battery), not a speed question: the test bounds the client's CPU use over a quiet window.
"""

from __future__ import annotations

import os
import time

from tests.support.processes import cpu_ticks
from tests.support.terminal import TmuxTerminal, client_pid

IDLE_WINDOW = 5.0  # seconds of an untouched prompt whose CPU use is measured
IDLE_SHARE = 0.02  # at most this share of one core over the window


def test_an_idle_prompt_after_commands_uses_no_cpu(launched: TmuxTerminal) -> None:
    pid = client_pid(launched)
    # Leaving the prompt for a command wakes the background-output thread (a byte on its socket pair);
    # a wake-up never drained turned every later poll of that thread into an immediate return.
    assert launched.run("1 + 1") == ["2"]
    assert launched.run("print('back')") == ["back"]
    start_ticks, start = cpu_ticks(pid), time.monotonic()
    while time.monotonic() - start < IDLE_WINDOW:  # the measured window itself, not a synchronisation
        time.sleep(0.25)
    used = (cpu_ticks(pid) - start_ticks) / os.sysconf("SC_CLK_TCK")
    elapsed = time.monotonic() - start
    assert used <= IDLE_SHARE * elapsed, f"the idle client used {used:.2f} s of CPU in {elapsed:.1f} s"
    assert launched.run("1 + 2") == ["3"]  # and the prompt still answers
