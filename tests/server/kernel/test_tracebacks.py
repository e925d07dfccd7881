"""Tracebacks are the ones ``python`` prints, of the user's frames only, compared in each test with what
the same interpreter (the kernel's: ``sys.executable``) prints for the same code run as a file, at its own
``>>>`` prompt or with ``-c``.

remrepl names the prompt's input ``<remote-N>`` (one name per input, and its lines show, as Python 3.13's
prompt does with ``<python-input-N>``); a file keeps its path. So a traceback at ``remote>`` is the one of
``python FILE`` with ``<remote-N>`` for FILE's path, and one of ``remrepl exec`` is the same text.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Stream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server

QUICK = 20.0
REMOTE_NAME = re.compile(r"<remote-\d+>")


@pytest.fixture(scope="module")
def remote() -> Iterator[Session]:
    """One launched server for the module (each test leaves the interpreter as it found it)."""
    launcher = LocalLauncher()
    launcher.start()
    try:
        with launcher.connect() as session:
            yield session
    finally:
        launcher.close()


def python_file(tmp_path: Path, code: str) -> tuple[Path, str]:
    """``code`` written to a file and run by ``python FILE``: the path and what it printed on stderr."""
    path = tmp_path / "case.py"
    path.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=QUICK, cwd=tmp_path)
    return path, done.stderr


def at_the_prompt(session: Session, code: str) -> str:
    """The traceback a run of ``code`` at ``remote>`` shows (after whatever it printed on stderr)."""
    result = session.run(code, timeout=QUICK)
    assert result.error is not None, result
    return result.stderr + result.error.traceback


def as_file(text: str, path: Path) -> str:
    return REMOTE_NAME.sub(str(path).replace("\\", "\\\\"), text)


CASES = {
    "a call chain": "def f(x):\n    return g(x) + 1\n\ndef g(x):\n    return 1 / x\n\nf(0)\n",
    "NameError": "pritn('hello')\n",
    "AttributeError": "'abc'.uppr()\n",
    "ImportError": "from os import pth\n",
    "a module not imported": "sys.argv\n",
    "a name in a method": (
        "class C:\n    def __init__(self):\n        self.blech = 1\n\n"
        "    def m(self):\n        return blech\n\nC().m()\n"
    ),
    "SyntaxError": "def f(:\n    pass\n",
    "IndentationError": "if True:\nprint(1)\n",
    "an unclosed bracket": "x = [1,\n     2\n",
    "raise from": "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('bad') from e\n",
    "during handling": "try:\n    1 / 0\nexcept ZeroDivisionError:\n    undefined_name\n",
    "a note": "e = ValueError('v')\ne.add_note('a note')\nraise e\n",
    "nested groups": "raise ExceptionGroup('outer', [ValueError(1), ExceptionGroup('inner', [TypeError(2)])])\n",
    "except star": (
        "def f():\n    raise ExceptionGroup('eg', [ValueError(1), TypeError(2)])\n\n"
        "try:\n    f()\nexcept* ValueError:\n    pass\n"
    ),
    "a library's frames": "import json\njson.loads('{')\n",
    "KeyboardInterrupt raised": "raise KeyboardInterrupt\n",
}


@pytest.mark.parametrize("code", CASES.values(), ids=CASES.keys())
def test_the_prompt_prints_the_traceback_python_prints_for_the_file(remote: Session, tmp_path: Path, code: str) -> None:
    path, expected = python_file(tmp_path, code)
    shown = at_the_prompt(remote, code)
    assert "remrepl" not in shown
    assert as_file(shown, path) == expected


@pytest.mark.parametrize("name", ["a call chain", "NameError", "SyntaxError", "during handling", "except star"])
def test_exec_prints_the_traceback_python_prints(remote: Session, tmp_path: Path, name: str) -> None:
    path, expected = python_file(tmp_path, CASES[name])
    result = remote.run(CASES[name], mode="script", filename=str(path), argv=(str(path),), timeout=QUICK)
    assert result.error is not None
    assert result.stderr + result.error.traceback == expected


HINTS = {
    "pritn": "NameError",
    "'abc'.uppr": "AttributeError",
    "from os import pth": "ImportError",
    "sys.argv": "NameError",
}


@pytest.mark.parametrize("code", HINTS.keys())
def test_hints_are_the_ones_this_python_prints(remote: Session, code: str) -> None:
    """Python 3.10 and 3.11 print "Did you mean" from C (sys.__excepthook__), 3.12 from the traceback
    module, and add hints for imports: whatever this Python says, remrepl says."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=QUICK)
    expected = done.stderr.splitlines()[-1]
    assert expected.startswith(HINTS[code])
    assert at_the_prompt(remote, code).splitlines()[-1] == expected
    if code in ("pritn", "'abc'.uppr"):
        assert "Did you mean" in expected  # before 3.12: what the traceback module alone would not say
    if code == "sys.argv" and sys.version_info >= (3, 12):
        assert "Did you forget to import 'sys'?" in expected


def the_python_prompts_traceback(inputs: list[str]) -> str:
    """What ``python -i`` (the real ``>>>``) prints on stderr for ``inputs`` typed in, prompts taken out."""
    typed = "".join(text + "\n\n" for text in inputs)  # a blank line ends each block, as a user types it
    done = subprocess.run([sys.executable, "-q", "-i"], input=typed, capture_output=True, text=True, timeout=QUICK)
    lines = [re.sub(r"^(?:>>> |\.\.\. )+", "", line) for line in done.stderr.splitlines()]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def without_file_names_and_lines(text: str) -> str:
    """The frames and messages of a traceback: file names the same, source and caret lines out (the
    ``<stdin>`` of 3.11's prompt has none to show)."""
    text = re.sub(r'File "[^"]+"', 'File "<input>"', text)
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("    ")) + "\n"


PROMPT_CASES = {  # the inputs typed one after the other; the last one raises
    "a call chain": ["def f():\n    return 1 / 0\n", "f()"],
    "NameError": ["pritn"],
    "AttributeError": ["'abc'.uppr"],
    "a result whose repr raises": [
        "class A:\n    def __repr__(self):\n        raise RuntimeError('bad repr')\n",
        "A()",
    ],
    "during handling": ["try:\n    1 / 0\nexcept ZeroDivisionError:\n    undefined_name\n"],
}


@pytest.mark.parametrize("inputs", PROMPT_CASES.values(), ids=PROMPT_CASES.keys())
def test_the_prompt_shows_the_frames_and_messages_of_pythons_prompt(remote: Session, inputs: list[str]) -> None:
    expected = without_file_names_and_lines(the_python_prompts_traceback(inputs))
    for earlier in inputs[:-1]:
        assert remote.run(earlier, timeout=QUICK).ok
    assert without_file_names_and_lines(at_the_prompt(remote, inputs[-1])) == expected


def waiting(pid: int) -> bool:
    """The process waits (``S``): after what it wrote last, only where the test means it to (Linux: /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "S"


def interrupted_in_a_terminal(path: Path, ready: bytes) -> str:
    """``python FILE`` with a terminal (as at a prompt: its ``input()`` reads with C code, which writes the
    prompt on stderr), Ctrl-C once it wrote ``ready`` there: what it printed on stderr after that."""
    main, other = pty.openpty()
    local = subprocess.Popen([sys.executable, str(path)], stdin=other, stdout=other, stderr=subprocess.PIPE)
    os.close(other)
    try:
        assert local.stderr is not None and local.stderr.read(len(ready)) == ready
        wait_until(lambda: waiting(local.pid), QUICK, "python to read its terminal")  # as a user is slower
        local.send_signal(signal.SIGINT)
        _, err = local.communicate(timeout=QUICK)
    finally:
        os.close(main)
        if local.poll() is None:
            local.kill()
            local.communicate()
    return err.decode()


def test_ctrl_c_in_input_shows_the_users_line_only(remote: Session, tmp_path: Path) -> None:
    code = "answer = input('x? ')\n"
    path = tmp_path / "case.py"
    path.write_text(code, encoding="utf-8")
    expected = interrupted_in_a_terminal(path, b"x? ")

    def ctrl_c(prompt: str, password: bool) -> str | None:
        raise KeyboardInterrupt  # what the prompt's line reader raises on Ctrl-C

    saved, remote.input_handler = remote.input_handler, ctrl_c
    try:
        result = remote.run(code, timeout=QUICK)
    finally:
        remote.input_handler = saved
    assert result.status == "interrupted" and result.error is not None
    assert as_file(result.error.traceback, path) == expected


def test_ctrl_c_in_running_code_shows_the_users_frames_as_python_does(remote: Session, tmp_path: Path) -> None:
    code = "import time\n\ndef wait():\n    print('waiting', flush=True)\n    time.sleep(60)\n\nwait()\n"
    path = tmp_path / "case.py"
    path.write_text(code, encoding="utf-8")
    local = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert local.stdout is not None and local.stdout.readline() == b"waiting\n"
        wait_until(lambda: waiting(local.pid), QUICK, "python to be in time.sleep")
        local.send_signal(signal.SIGINT)
        _, err = local.communicate(timeout=QUICK)
    finally:
        if local.poll() is None:
            local.kill()
            local.communicate()
    execution = remote.execute(code)
    traceback = ""
    for event in execution.events(timeout=QUICK):
        if isinstance(event, Stream) and b"waiting" in event.data:
            execution.interrupt()
        traceback += getattr(event, "traceback", "")
    assert execution.done is not None and execution.done.status == "interrupted"
    assert as_file(traceback, path) == err.decode()


HOOKS = {
    "a hook": """\
        import sys, traceback

        def hook(kind, value, tb):
            print('hook:', kind.__name__, value, file=sys.stderr)
            traceback.print_tb(tb)

        sys.excepthook = hook
        1 / 0
        """,
    "a hook that raises": """\
        import sys

        def hook(kind, value, tb):
            raise RuntimeError('the hook failed')

        sys.excepthook = hook
        {}['key']
        """,
}


@pytest.mark.parametrize("code", HOOKS.values(), ids=HOOKS.keys())
def test_a_users_excepthook_is_called_as_python_calls_it(remote: Session, tmp_path: Path, code: str) -> None:
    code = textwrap.dedent(code)
    path, expected = python_file(tmp_path, code)
    try:
        shown = at_the_prompt(remote, code)
    finally:
        assert remote.run("import sys; sys.excepthook = sys.__excepthook__").ok
    assert as_file(shown, path) == expected


def test_sys_last_traceback_is_the_one_shown(remote: Session) -> None:
    """As at ``>>>``: sys.last_type/last_value/last_traceback (what pdb.pm() and %debug use) are set, and
    hold the user's frames only, so ``traceback.print_last()`` prints what was shown."""
    shown = at_the_prompt(remote, "def f():\n    return 1 / 0\n\nf()")
    check = remote.run(
        "import sys, traceback\n"
        "print(sys.last_type.__name__, sys.last_value.__traceback__ is sys.last_traceback)\n"
        "traceback.print_last()\n",
        timeout=QUICK,
    )
    assert check.stdout == "ZeroDivisionError True\n"
    assert check.stderr == shown
    if sys.version_info >= (3, 12):
        assert remote.run("sys.last_exc is sys.last_value").value == "True"
