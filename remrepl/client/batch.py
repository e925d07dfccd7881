"""``remrepl exec FILE``: run a local script remotely as ``__main__`` and exit with its status."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from .._exceptions import ConfigError, ExecutionTimeout
from ..protocol import Display, OutputEvent
from .output import OutputPrinter, forward_sigint, sigint_raises
from .session import Session

EXIT_TIMEOUT = 124  # as timeout(1)
GRACE_SECONDS = 5.0  # after interrupting a run that timed out, how long to wait for it to stop


def stdin_input(prompt: str, password: bool) -> str | None:
    """Remote ``input()`` reads local standard input; the prompt goes to stdout, as Python does."""
    if password and sys.stdin.isatty():
        import getpass

        with sigint_raises():
            try:
                return getpass.getpass(prompt)
            except EOFError:
                return None
    sys.stdout.write(prompt)
    sys.stdout.flush()
    with sigint_raises():
        line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def read_script(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def run_script(
    session: Session,
    path: str,
    source: str,
    args: list[str],
    *,
    timeout: float | None = None,
    on_display: Callable[[Display], str] | None = None,
) -> int:
    """Run ``source`` as the script ``path``; its exit status (0, its SystemExit code, 1 on an exception,
    124 on timeout). ``on_display`` saves plots (``client/plots.py``)."""
    printer = OutputPrinter(on_display=on_display)
    session.input_handler = stdin_input
    execution = session.execute(source, mode="script", filename=path, argv=(path, *args))
    skipped = 0

    def show(events: Iterable[OutputEvent]) -> None:
        # The script's stdout is the script's: output the server replays from earlier runs (a client that
        # died before it saw them) is left for `remrepl connect`, which shows it.
        nonlocal skipped
        for event in events:
            if getattr(event, "req_id", "") in (execution.req_id, ""):
                printer.show(event)
            else:
                skipped += 1

    with forward_sigint(execution.interrupt):
        try:
            show(execution.events(timeout))
        except ExecutionTimeout:
            execution.interrupt()
            print(f"remrepl: {path} ran longer than {timeout:g} s and was interrupted", file=sys.stderr)
            try:
                show(execution.events(GRACE_SECONDS))
            except ExecutionTimeout:
                pass
            return EXIT_TIMEOUT
        finally:
            if skipped:
                print(f"remrepl: {skipped} output events of earlier runs were not shown", file=sys.stderr)
    assert execution.done is not None
    return execution.done.exit_code
