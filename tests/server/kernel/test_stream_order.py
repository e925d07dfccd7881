"""Without a terminal, the kernel's stdout and stderr stay two streams and keep the order they were
written in (kernel/main.py: a switch of stream waits for the other pipe to be read); with one (the
client's ``Terminal``), they are one pty of its size. Real servers, the API as a program uses it."""

from __future__ import annotations

import os

import pytest

from remrepl import Session
from remrepl.protocol import Stream, Terminal

RUNS = 20  # every one of them in order: the race this closes showed in most runs
WRITES = 30

ALTERNATING = f"""\
import sys, warnings, logging
logging.basicConfig(format="log %(message)s")
warnings.simplefilter("always")  # every run shows its warnings, not only the first
for i in range({WRITES}):
    if i % 3 == 0:
        print(f"err {{i}}", file=sys.stderr)
    elif i % 3 == 1:
        warnings.warn(f"warn {{i}}")
    else:
        logging.warning(f"{{i}}")
    print(f"out {{i}}")
"""


def streamed(session: Session, code: str) -> list[tuple[str, str]]:
    """(stream name, line) of each line the run wrote, in the order the client got them."""
    lines: list[tuple[str, str]] = []
    for event in session.execute(code).events(60.0):
        if isinstance(event, Stream):
            lines += [(event.name, line) for line in event.data.decode().splitlines()]
    return lines


def expected_order() -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for i in range(WRITES):
        if i % 3 == 0:
            lines.append(("stderr", f"err {i}"))
        elif i % 3 == 1:
            lines.append(("stderr", f"warn {i}"))
        else:
            lines.append(("stderr", f"log {i}"))
        lines.append(("stdout", f"out {i}"))
    return lines


def test_stderr_then_stdout_keep_the_order_written_in_every_run(session: Session) -> None:
    want = expected_order()
    for run in range(RUNS):
        got = [
            (name, line.split("UserWarning: ")[-1])  # "<remote-N>:7: UserWarning: warn 1": its message
            for name, line in streamed(session, ALTERNATING)
            if not line.startswith("  warnings.warn")  # the warning's source line
        ]
        assert got == want, f"run {run}: {got[:12]}"


def test_stdout_then_stderr_keep_the_order_written(session: Session) -> None:
    code = "import sys\nfor i in range(50):\n    print(f'o{i}')\n    sys.stderr.write(f'e{i}\\n')\n"
    want = [x for i in range(50) for x in (("stdout", f"o{i}"), ("stderr", f"e{i}"))]
    for run in range(RUNS // 2):
        assert streamed(session, code) == want, f"run {run}"


def test_a_subprocess_writing_to_stderr_comes_before_the_print_after_it(session: Session) -> None:
    code = "import os\nfor i in range(10):\n    os.system(f'echo sub{i} >&2')\n    print(f'py{i}')\n"
    want = [x for i in range(10) for x in (("stderr", f"sub{i}"), ("stdout", f"py{i}"))]
    assert streamed(session, code) == want


def test_without_a_terminal_the_output_is_pipes(session: Session) -> None:
    result = session.run("import os, sys\nprint(sys.stdout.isatty(), sys.stderr.isatty())\nos.get_terminal_size()")
    assert result.stdout == "False False\n"
    assert result.error is not None and result.error.ename == "OSError"


def test_a_client_terminal_makes_the_output_a_pty_of_its_size(session: Session) -> None:
    session.use_terminal(lambda: Terminal(31, 97, "xterm-256color", "truecolor"))
    code = (
        "import os, sys, shutil\n"
        "print(sys.stdout.isatty(), sys.stderr.isatty(), tuple(os.get_terminal_size()), "
        "tuple(shutil.get_terminal_size()), os.environ['TERM'], os.environ['COLORTERM'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "os.system('tput cols')\n"
    )
    result = session.run(code)
    # one stream, as a terminal shows it; a newline leaves the pty as CR LF (ONLCR), never doubled
    assert result.stdout == "True True (97, 31) (97, 31) xterm-256color truecolor\r\nto stderr\r\n97\r\n"
    assert result.stderr == ""


def test_the_terminal_follows_the_client_between_runs(session: Session) -> None:
    size = [Terminal(20, 60, "xterm", "")]
    session.use_terminal(lambda: size[0])
    assert session.run("import os; print(tuple(os.get_terminal_size()))").stdout == "(60, 20)\r\n"
    size[0] = Terminal(25, 81, "xterm", "")
    assert session.run("print(tuple(os.get_terminal_size()))").stdout == "(81, 25)\r\n"
    if "PAGER" not in os.environ:  # nobody types into the pty: programs that page print instead
        assert session.run("print(os.environ['PAGER'])").stdout == "cat\r\n"
    session.use_terminal(lambda: None)  # a client without a terminal: pipes again, TERM the server's own
    result = session.run("import sys; print(sys.stdout.isatty(), os.environ.get('COLORTERM'))")
    assert result.stdout == "False None\n"


def test_a_resize_during_a_run_is_a_sigwinch_to_the_running_code(session: Session) -> None:
    size = [Terminal(20, 60, "xterm", "")]
    session.use_terminal(lambda: size[0])
    code = (
        "import os, signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGWINCH, lambda *a: got.append(tuple(os.get_terminal_size())))\n"
        "print('ready', flush=True)\n"
        "end = time.monotonic() + 30\n"
        "while not got and time.monotonic() < end:\n"
        "    time.sleep(0.01)\n"
        "print('winch', got)\n"
    )
    execution = session.execute(code)
    out = b""
    for event in execution.events(60.0):
        if isinstance(event, Stream):
            out += event.data
            if b"ready" in out and size[0].rows == 20:
                size[0] = Terminal(22, 70, "xterm", "")
                session.terminal_resized()
    assert out == b"ready\r\nwinch [(70, 22)]\r\n"


@pytest.mark.parametrize("term", ["xterm 256", "x\x1b[31m", "a" * 65, "-x"])
def test_a_terminal_name_that_is_not_plain_is_refused(term: str) -> None:
    with pytest.raises(ValueError):
        Terminal(24, 80, term, "")
