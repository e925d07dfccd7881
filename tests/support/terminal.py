"""A real terminal for the prompt's tests: a private tmux server runs a command, the tests type into it with
``send-keys`` and read the screen with ``capture-pane``; plus the helpers that find the kernel.

Every wait polls the screen (or /proc) against a deadline; no fixed sleep is ever the synchronisation.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.processes import cpu_ticks, read_proc, server_processes
from tests.support.waiting import wait_until

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
PROMPT = "remote>"  # the prompt as capture-pane shows it, trailing space stripped
CONTINUATION = "..."
EXITED = re.compile(r"\[remrepl exited with status (\d+)\]")
WAIT = 20.0  # seconds; an upper bound for anything the terminal should show, never a sleep


# --- the terminal -------------------------------------------------------------------------------------


class TmuxTerminal:
    """One private tmux server; each ``start`` runs a command in a new 120x40 window and targets it."""

    def __init__(self, env: dict[str, str], width: int = 120, height: int = 40) -> None:
        self.socket_name = f"remrepl-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.env = env
        self.width, self.height = width, height
        self.pane = ""
        self.started = False
        self.socket_path = ""

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            [TMUX, "-L", self.socket_name, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, argv: Sequence[str], cwd: Path | None = None) -> None:
        """Run ``argv`` in a fresh window (in ``cwd`` if given); the shell then prints its exit status,
        and the pane stays."""
        command = shlex.join(argv) + '; echo "[remrepl exited with status $?]"'
        env_flags = []
        for name in ("REMREPL_STATE_DIR", "PYTHONPATH"):
            env_flags += ["-e", f"{name}={self.env.get(name, '')}"]
        fmt = ["-P", "-F", "#{pane_id}"]
        if cwd is not None:
            fmt += ["-c", str(cwd)]
        if not self.started:
            # remain-on-exit first, in the same tmux command, so an early exit still leaves the screen to read
            setup = ["set-option", "-g", "remain-on-exit", "on", ";", "set-option", "-g", "history-limit", "10000", ";"]
            size = ["-x", str(self.width), "-y", str(self.height)]
            out = self.tmux(*setup, "new-session", "-d", "-s", "main", *size, *fmt, *env_flags, command)
            self.started = True
            self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        else:
            out = self.tmux("new-window", "-t", "main", *fmt, *env_flags, command)
        self.pane = out.strip().splitlines()[-1]

    def send(self, *keys: str) -> None:
        """Key names as tmux knows them: ``Enter``, ``C-c``, ``C-d``, ``Up``..."""
        self.tmux("send-keys", "-t", self.pane, *keys)

    def type(self, text: str) -> None:
        """Literal text, as if typed."""
        self.tmux("send-keys", "-t", self.pane, "-l", text)

    def lines(self) -> list[str]:
        """The whole pane (scroll-back included), wrapped lines joined, trailing blanks dropped."""
        text = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.pane)
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def screen(self) -> str:
        return "\n".join(self.lines())

    def mark(self) -> int:
        """Where output of what is typed next will start: the line after the current one."""
        return len(self.lines())

    def wait_for(self, text: str, timeout: float = WAIT, since: int = 0) -> list[str]:
        """Wait until ``text`` appears on the screen at or after line ``since``; the lines from there on."""
        return self._wait(lambda lines: text in "\n".join(lines), timeout, since, repr(text))

    def wait_for_line(self, condition: Callable[[str], bool], what: str, timeout: float = WAIT, since: int = 0) -> int:
        """The index of the first line at or after ``since`` that satisfies ``condition``."""
        lines = self._wait(lambda lines: any(condition(line) for line in lines), timeout, since, what)
        return since + next(i for i, line in enumerate(lines) if condition(line))

    def wait_prompt(self, since: int, timeout: float = WAIT) -> list[str]:
        """Wait for a fresh, empty ``remote>`` prompt at or after ``since``; the lines before it."""
        index = self.wait_for_line(lambda line: line == PROMPT, "an empty remote> prompt", timeout, since)
        return self.lines()[since:index]

    def run(self, code: str, timeout: float = WAIT) -> list[str]:
        """Type one line, press Enter, wait for the next prompt; the lines shown in between."""
        start = self.mark()
        self.type(code)
        self.send("Enter")
        return self.wait_prompt(start, timeout)

    def settle(self, quiet: float = 0.5, timeout: float = WAIT) -> None:
        """Wait until the screen ends with an empty prompt and has not changed for ``quiet`` seconds
        (after a burst of keys whose effects cannot be awaited one by one)."""
        deadline = time.monotonic() + timeout
        last, since = self.lines(), time.monotonic()
        # the line may start with a ^C that the terminal echoed between two prompts
        while not (last and last[-1].endswith(PROMPT) and time.monotonic() - since >= quiet):
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen did not settle within {timeout:g} s:\n{self.screen()}")
            time.sleep(0.05)
            now = self.lines()
            if now != last:
                last, since = now, time.monotonic()

    def wait_exit(self, timeout: float = WAIT) -> int:
        """Wait until the command has exited and its pane is dead; its exit status."""
        lines = self._wait(lambda lines: any(EXITED.search(line) for line in lines), timeout, 0, "the command to exit")
        wait_until(
            lambda: self.tmux("display-message", "-p", "-t", self.pane, "#{pane_dead}").strip() == "1",
            timeout,
            "the pane to die",
        )
        match = next(m for m in map(EXITED.search, lines) if m)
        return int(match.group(1))

    def _wait(self, found: Callable[[list[str]], bool], timeout: float, since: int, what: str) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()[since:]
            if found(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(
            [TMUX, "-L", self.socket_name, "-f", "/dev/null", "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=10,
            check=False,
        )
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)


def client_pid(terminal: TmuxTerminal) -> int:
    """The ``remrepl connect`` process: the child of the pane's shell."""
    shell = int(terminal.tmux("display-message", "-p", "-t", terminal.pane, "#{pane_pid}").strip())
    children = read_proc(shell, f"task/{shell}/children").split()
    assert len(children) == 1, children
    return int(children[0])


def kernel_pid(state_dir: Path) -> int:
    pids = server_processes(state_dir, marker="remrepl.server.kernel.main")
    assert len(pids) == 1, f"expected one kernel process, found {pids}"
    return pids[0]


def wait_busy(pid: int, timeout: float = WAIT) -> None:
    """Wait until ``pid`` has burnt 100 ms of CPU: the remote loop really runs (so the client waits on it)."""
    start = cpu_ticks(pid)
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    wait_until(lambda: cpu_ticks(pid) - start >= ticks_per_second // 10, timeout, f"process {pid} to be busy")
