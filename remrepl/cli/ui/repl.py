"""The ``remote>`` loop: read a block locally, run it remotely, show its output as it streams.

Evaluation stays out of the prompt: this loop only wires the prompt (``prompt.py``), the completer
(``completion.py``), the magics (``magics.py``) and the output of background threads
(``background.py``) to a ``Session``.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import termios
import time
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.history import History

from ..._exceptions import ServerError
from ...client.execution import Execution
from ...client.session import Session, terminal_input
from ..config import Config
from ..output import CtrlCPresses, OutputPrinter, forward_sigint, sigint_raises
from ..plots import PlotSaver
from . import (
    ipython_magics,  # noqa: F401  (registers %timeit, %run, %cd, %pwd, %env, %history, %debug)
    transfer_magics,  # noqa: F401  (registers %upload and %download)
)
from .background import BackgroundOutput
from .completion import RemoteCompleter
from .leaving import KEYS, Leaving
from .magics import MAGICS, Outcome, is_magic, run_magic
from .prompt import make_prompt_session

REPLAY_WAIT = 5.0  # at most this long to receive the output missed while detached
HINT_AFTER = 2.0  # seconds after a Ctrl-C that did not end the run
HINT = "remrepl: the code has not stopped; Ctrl-C again offers to restart the remote interpreter"
ANSWER_POLL = 0.1  # seconds between looks at the terminal while the restart question waits for an answer
LOCAL_NAMESPACE = "__remrepl_local__"  # not an importable module: cloudpickle sends its functions by value


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
        config: Config | None = None,
        leaving: Leaving | None = None,
    ) -> None:
        """``leaving``: what leaving (Ctrl-D, ``exit()``, ``%exit``) does to the server for this launch, as
        the caller knows it; the banner and ``%help`` say it. By default: detaching leaves it running."""
        self.session = session
        self.leaving = leaving or Leaving()
        self.exit_code = 0  # a SystemExit's code out of code typed here: the client's exit status, as python's
        self.session.input_handler = _prompt_input
        self.config = config or Config()
        self.printer = OutputPrinter(
            color=sys.stdout.isatty() if color is None else color,
            on_display=PlotSaver(self.config.plots_dir, open_plots=self.config.open_plots),
        )
        completer = RemoteCompleter(
            session,
            magic_names=lambda: [n for n in MAGICS if n.startswith("%")],
            local_names=lambda: self.local_ns,
            local_namespace=lambda: self.local_ns,
        )
        self.prompt: PromptSession[str] = make_prompt_session(history, completer=completer, config=self.config)
        self.background = BackgroundOutput(session, self.printer)
        self.local_ns: dict[str, Any] = {"__name__": LOCAL_NAMESPACE}  # %get, %put, %local
        self.timing = False  # %time
        self.inputs: list[str] = []  # what was typed at this prompt, in order (%history)

    def banner(self, target: str) -> str:
        welcome = self.session.welcome
        assert welcome is not None
        uptime = int(time.time() - welcome.started_at)
        return (
            f"remrepl: connected to {target} ({welcome.hostname}, Python {welcome.python}, "
            f"up {uptime // 3600}h{uptime % 3600 // 60:02d}m{uptime % 60:02d}s, "
            f"{'a command is still running' if welcome.running else 'idle'}).\n"
            f"{KEYS} {self.leaving.describe()}.\n"
            "Ctrl-C interrupts (twice: offers a restart), %shutdown stops the server, %help lists magics."
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

    def _read(self) -> str:
        """One block from the prompt; remote output that arrives meanwhile is shown above it."""
        with self.background.active(self.prompt.app):
            return self.prompt.prompt(handle_sigint=False, pre_run=self.background.on_prompt_started)

    def _loop(self, target: str) -> Outcome:
        print(self.banner(target))
        self._show_missed_output()
        running = self.session.running()
        if running is not None:
            print("remrepl: a command is still running; its output follows (Ctrl-C interrupts it).")
            self.follow(running)
        while True:
            self.printer.line_break()
            try:
                text = self._read()  # Ctrl-C is a key press here
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return "detach"
            command = text.strip()
            if not command:
                continue
            self.inputs.append(text)
            started, timed = time.perf_counter(), self.timing
            if is_magic(command):
                outcome = run_magic(self, command)
                if outcome is not None:
                    return outcome
            else:
                try:
                    execution = self.session.execute(text)
                except ServerError as exc:
                    print(f"remrepl: {exc}", file=sys.stderr)
                    continue
                self._stream(execution)
                if execution.done is not None and execution.done.status == "exit":
                    # exit(), quit(), sys.exit(), raise SystemExit: python's >>> ends there; so does the prompt,
                    # as Ctrl-D does (what that means for the server: self.leaving), with the exit status
                    self.printer.line_break()
                    self.exit_code = execution.done.exit_code
                    return "detach"
            if timed and self.timing:  # not for the %time that turns it on or off
                self.printer.line_break()
                print(f"[wall time {time.perf_counter() - started:.3f} s]", file=sys.stderr)

    def _show_missed_output(self) -> None:
        deadline = time.monotonic() + REPLAY_WAIT
        while self.session.replaying and time.monotonic() < deadline:
            event = self.session.next_event(deadline - time.monotonic())
            if event is not None:
                self.printer.show(event)

    def follow(self, execution: Execution) -> None:
        """Show a run's output until it is over (``_stream``); a SystemExit there (a magic's run, a run
        followed after reattaching) only gets a note: the prompt goes on."""
        self._stream(execution)
        done = execution.done
        if done is not None and done.status == "exit":
            self.printer.line_break()
            print(
                f"remrepl: the code raised SystemExit({done.exit_code}); the remote interpreter goes on",
                file=sys.stderr,
            )

    def _stream(self, execution: Execution) -> None:
        """Show a run's output as it streams until it is over. Ctrl-C interrupts it; if it has not
        stopped HINT_AFTER s later, a line says that Ctrl-C again offers to restart the interpreter; a
        repeated Ctrl-C (the code did not stop) makes the offer (``_offer_restart``)."""
        repeated: list[bool] = []
        hint_due: list[float] = []  # when to say that the interrupt did not stop the code

        def on_interrupt() -> None:  # in the SIGINT handler: send the interrupt, cut the wait short
            execution.interrupt()
            hint_due[:] = [time.monotonic() + HINT_AFTER]
            self.session.wake()

        def on_repeat() -> None:
            repeated.append(True)
            self.session.wake()

        presses = CtrlCPresses(on_interrupt, on_repeat)
        with forward_sigint(presses.press):
            while execution.done is None:
                if repeated:
                    repeated.clear()
                    hint_due.clear()
                    if self._offer_restart(execution):
                        return
                    presses.reset()  # declined: two more presses to ask again
                    continue
                timeout = None
                if hint_due:
                    timeout = hint_due[0] - time.monotonic()
                    if timeout <= 0:
                        hint_due.clear()
                        presses.arm()
                        self.printer.line_break()
                        print(HINT, file=sys.stderr)
                        continue
                event = execution.poll(timeout)
                if event is not None:
                    self.printer.show(event)

    def _offer_restart(self, execution: Execution) -> bool:
        """Ask whether to kill and restart the remote interpreter (y/N) while the run's output keeps
        showing; True if it was restarted. No, Ctrl-C, or the run ending meanwhile: keep waiting."""
        self.printer.line_break()
        question = (
            "remrepl: the code does not stop. Restart the remote interpreter (its namespace will be lost)? [y/N] "
        )
        sys.stderr.write(question)
        sys.stderr.flush()
        if not self._answer_yes(execution):
            if execution.done is not None:
                print("\nremrepl: the run ended by itself; nothing was restarted", file=sys.stderr)
            else:
                print("remrepl: still waiting (Ctrl-C twice asks again)", file=sys.stderr)
            return False
        if execution.done is not None:
            print("remrepl: the run ended by itself meanwhile; nothing was restarted", file=sys.stderr)
            return False
        self.follow(self.session.restart(force=True))  # the killed run's Done comes first, then the Notice
        return True

    def _answer_yes(self, execution: Execution) -> bool:
        """Read a line at the terminal (cooked mode: the user types y and Enter) while the run goes on."""
        declined: list[bool] = []

        def on_sigint() -> None:
            declined.append(True)
            self.session.wake()

        fd = sys.stdin.fileno()
        with forward_sigint(on_sigint):
            while execution.done is None and not declined:
                if select.select([fd], [], [], 0)[0]:
                    return os.read(fd, 1024).strip().lower() in (b"y", b"yes")
                event = execution.poll(ANSWER_POLL)
                if event is not None:
                    self.printer.show(event)
        if execution.done is not None and os.isatty(fd):
            termios.tcflush(fd, termios.TCIFLUSH)  # half an answer must not land at the next prompt
        return False
