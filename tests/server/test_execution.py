"""Running code: results, output order, streaming, errors, input, interrupts, SystemExit."""

from __future__ import annotations

import threading
import time

import pytest

from remrepl import ExecutionTimeout
from remrepl.client.session import Session
from remrepl.protocol import Stream


def test_expressions_echo_like_the_repl(session: Session) -> None:
    assert session.run("1 + 1").value == "2"
    assert session.run("None").results == []
    assert session.run("x = 5").results == []
    assert session.run("for i in range(3): i").results == ["0", "1", "2"]
    assert session.run("x = 1\ny = 2\nx + y\n'done'").results == ["3", "'done'"]
    assert session.run("_").value == "'done'"


def test_prints_subprocesses_and_results_arrive_in_order(session: Session) -> None:
    code = (
        "import os, sys, subprocess\n"
        "print('a')\n"
        "os.system('echo b')\n"
        "print('c', file=sys.stderr)\n"
        "subprocess.run(['echo', 'd'])\n"
        "sys.stdout.write('e\\n')\n"
        "'result'\n"
    )
    events = list(session.execute(code))
    out = b"".join(e.data for e in events if isinstance(e, Stream) and e.name == "stdout")
    assert out == b"a\nb\nd\ne\n"
    assert [type(e).__name__ for e in events][-2:] == ["Result", "Done"]


def test_results_and_prints_interleave_within_one_run(session: Session) -> None:
    order = []
    for event in session.execute("for i in range(3): print('p', i); i"):
        name = type(event).__name__
        order.append(event.data.decode() if isinstance(event, Stream) else getattr(event, "text", name))
    assert "".join(order[:-1]).replace("\n", "|") == "p 0|0p 1|1p 2|2"


def test_output_streams_while_the_code_runs(session: Session) -> None:
    code = "import time\nprint('first', flush=False)\ntime.sleep(1.5)\nprint('second')"
    started = time.monotonic()
    execution = session.execute(code)
    for event in execution:
        if isinstance(event, Stream):
            assert b"first" in event.data
            assert execution.done is None  # arrived before the run was over
            assert time.monotonic() - started < 1.4
            break
    execution.wait(10)


def test_large_output_arrives_whole(session: Session) -> None:
    result = session.run("for i in range(200_000): print('x' * 49)", timeout=60)
    assert len(result.stdout) == 200_000 * 50
    assert result.stdout.count("\n") == 200_000


def test_error_shows_only_the_users_frames(session: Session) -> None:
    result = session.run("def f():\n    return 1 / 0\nf()")
    assert result.status == "error" and result.exit_code == 1
    assert result.error is not None and result.error.ename == "ZeroDivisionError"
    tb = result.error.traceback
    assert 'File "<remote-' in tb and "return 1 / 0" in tb
    assert "remrepl" not in tb and "kernel.py" not in tb
    assert session.run("1").value == "1"  # the session goes on


def test_syntax_error_is_reported_with_its_caret(session: Session) -> None:
    result = session.run("def f(:")
    assert result.error is not None and result.error.ename == "SyntaxError"
    assert "^" in result.error.traceback and "ast.py" not in result.error.traceback


def test_a_syntax_error_anywhere_runs_none_of_the_block(session: Session) -> None:
    session.run("counter = 0")
    assert session.run("counter += 1\ndef f(:").status == "error"
    assert session.run("counter").value == "0"


def test_interrupt_stops_the_code_and_keeps_the_namespace(session: Session) -> None:
    session.run("x = 42")
    execution = session.execute("while True: pass")
    threading.Timer(0.5, execution.interrupt).start()
    done = execution.wait(20)
    assert done.status == "interrupted"
    assert session.run("x").value == "42"


def test_run_timeout_interrupts(session: Session) -> None:
    with pytest.raises(ExecutionTimeout):
        session.run("import time; time.sleep(30)", timeout=0.5)
    assert session.run("2").value == "2"


def test_input_and_getpass_are_answered_by_the_client(session: Session) -> None:
    asked: list[tuple[str, bool]] = []

    def answer(prompt: str, password: bool) -> str | None:
        asked.append((prompt, password))
        return "secret" if password else "world"

    session.input_handler = answer
    result = session.run("import getpass\nname = input('name? ')\npw = getpass.getpass()\nname, pw")
    assert result.value == "('world', 'secret')"
    assert asked == [("name? ", False), ("Password: ", True)]
    session.input_handler = lambda prompt, password: None
    assert session.run("input()").error is not None  # EOF
    assert session.run("import sys; sys.stdin.read()").value == "''"


def test_system_exit_ends_the_run_not_the_interpreter(session: Session) -> None:
    session.run("kept = 1")
    assert (session.run("raise SystemExit(3)").status, session.run("raise SystemExit(3)").exit_code) == ("exit", 3)
    result = session.run("import sys; sys.exit('bye')")
    assert result.exit_code == 1 and "bye" in result.stderr
    assert session.run("exit()").exit_code == 0
    assert session.run("kept").value == "1"


def test_scripts_run_as_main_with_their_argv(session: Session) -> None:
    code = "import sys\nprint(__name__, sys.argv)\nif __name__ == '__main__':\n    raise SystemExit(len(sys.argv))"
    result = session.run(code, mode="script", filename="job.py", argv=("job.py", "--flag", "x"))
    assert result.stdout == "__main__ ['job.py', '--flag', 'x']\n"
    assert result.exit_code == 3
    assert session.run("__name__").value == "'__main__'"  # the prompt's namespace is untouched


def test_unbuffered_environment_is_kept_for_child_processes(session: Session) -> None:
    result = session.run("import os\nos.environ['PYTHONUNBUFFERED'] = '1'\nos.system('echo $PYTHONUNBUFFERED')")
    assert result.stdout == "1\n"
