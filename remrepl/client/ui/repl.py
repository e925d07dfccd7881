"""The ``remote>`` loop: read a block locally, run it remotely, show its output as it streams.

Evaluation stays out of the prompt: this loop only wires the prompt (``prompt.py``) to a ``Session``.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from typing import Literal

from prompt_toolkit import PromptSession
from prompt_toolkit.history import History

from ..._exceptions import ServerError
from ...protocol import Display
from ..output import OutputPrinter, forward_sigint, sigint_raises
from ..session import Execution, Session, terminal_input
from .prompt import make_prompt_session
from .transfer_magics import TRANSFER_MAGICS, download_magic, upload_magic

Outcome = Literal["detach", "shutdown"]

MAGICS = {
    "%exit": "detach: leave the server (and its namespace) running; Ctrl-D does the same",
    "%shutdown": "stop the server and its interpreter",
    "%help": "this list",
    **TRANSFER_MAGICS,
}
REPLAY_WAIT = 5.0  # at most this long to receive the output missed while detached


def _prompt_input(prompt: str, password: bool) -> str | None:
    """Remote ``input()``/``getpass()`` at the terminal; Ctrl-C here interrupts the remote code."""
    with sigint_raises():
        return terminal_input(prompt, password)


class Repl:
    def __init__(
        self,
        session: Session,
        history: History,
        *,
        color: bool | None = None,
        on_display: Callable[[Display], str] | None = None,
    ) -> None:
        self.session = session
        self.session.input_handler = _prompt_input
        self.printer = OutputPrinter(color=sys.stdout.isatty() if color is None else color, on_display=on_display)
        self.prompt: PromptSession[str] = make_prompt_session(history)

    def banner(self, target: str) -> str:
        welcome = self.session.welcome
        assert welcome is not None
        uptime = int(time.time() - welcome.started_at)
        return (
            f"remrepl: connected to {target} ({welcome.hostname}, Python {welcome.python}, "
            f"up {uptime // 3600}h{uptime % 3600 // 60:02d}m{uptime % 60:02d}s, "
            f"{'a command is still running' if welcome.running else 'idle'}).\n"
            "Ctrl-C interrupts, Ctrl-D or %exit detaches, %shutdown stops the server, %help lists magics."
        )

    def run(self, target: str) -> Outcome:
        # Between two prompts the terminal is briefly in cooked mode, so a Ctrl-C there is a SIGINT; with
        # Python's default handler it would raise KeyboardInterrupt wherever the main thread is (inside
        # prompt_toolkit's set-up, or outside any try, ending the client and a launched server with it).
        # Drop such strays: forward_sigint (runs) and sigint_raises (remote input()) install what they
        # need over this handler and restore it.
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
        try:
            return self._loop(target)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _loop(self, target: str) -> Outcome:
        print(self.banner(target))
        self._show_missed_output()
        running = self.session.running()
        if running is not None:
            print("remrepl: a command is still running; its output follows (Ctrl-C interrupts it).")
            self._follow(running)
        while True:
            self.printer.line_break()
            try:
                text = self.prompt.prompt(handle_sigint=False)  # Ctrl-C is a key press here
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return "detach"
            command = text.strip()
            if not command:
                continue
            if command.startswith("%"):
                outcome = self._magic(command)
                if outcome is not None:
                    return outcome
                continue
            try:
                execution = self.session.execute(text)
            except ServerError as exc:
                print(f"remrepl: {exc}", file=sys.stderr)
                continue
            self._follow(execution)

    def _show_missed_output(self) -> None:
        deadline = time.monotonic() + REPLAY_WAIT
        while self.session.replaying and time.monotonic() < deadline:
            event = self.session.next_event(deadline - time.monotonic())
            if event is not None:
                self.printer.show(event)

    def _follow(self, execution: Execution) -> None:
        with forward_sigint(execution.interrupt):
            for event in execution:
                self.printer.show(event)
        done = execution.done
        if done is not None and done.status == "exit":
            self.printer.line_break()
            print(
                f"remrepl: the code raised SystemExit({done.exit_code}); the remote interpreter goes on "
                "(%exit detaches, %shutdown stops the server)",
                file=sys.stderr,
            )

    def _magic(self, command: str) -> Outcome | None:
        name = command.split()[0]
        if name == "%exit":
            return "detach"
        if name == "%shutdown":
            return "shutdown"
        if name in ("%upload", "%download"):
            handler = upload_magic if name == "%upload" else download_magic
            handler(self.session, command[len(name) :], self.printer)
            return None
        if name == "%help":
            for magic, text in MAGICS.items():
                print(f"  {magic:<12} {text}")
            return None
        print(f"remrepl: unknown magic {name}; %help lists them", file=sys.stderr)
        return None
