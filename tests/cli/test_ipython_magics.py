"""The IPython-style magics (``%timeit``, ``%run``, ``%cd``, ``%pwd``, ``%env``, ``%debug``, ``%help``) run
by the prompt's own code (``Repl``) against a real server, without a terminal; what the terminal adds
(pdb typed at the keyboard, Ctrl-C, ``%history``) is in test_ipython_magics_terminal.py.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from prompt_toolkit.history import InMemoryHistory

from remrepl.cli.ui.magics import MAGICS, run_magic
from remrepl.cli.ui.repl import Repl
from remrepl.client.session import Session
from tests.support.cli import run_cli

TIME = r"[\d.]+ (?:ns|µs|ms|s)"
TIMEIT_LINE = re.compile(rf"{TIME} ± {TIME} per loop \(mean ± std\. dev\. of (\d+) runs?, ([\d,]+) loops? each\)")


@pytest.fixture
def repl(session: Session) -> Repl:
    return Repl(session, InMemoryHistory(), color=False)


def magic(repl: Repl, capfd: pytest.CaptureFixture[str], line: str) -> tuple[str, str]:
    """Run one magic line as the prompt does; what it printed on stdout and stderr."""
    capfd.readouterr()
    repl.printer.stdout, repl.printer.stderr = sys.stdout, sys.stderr  # capfd's, which change as it reads
    assert run_magic(repl, line) is None
    return capfd.readouterr()


def value(session: Session, code: str) -> str | None:
    result = session.run(code, timeout=30)
    assert result.ok, result.error
    return result.value


def test_timeit_sees_the_users_names_and_prints_ipythons_line(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str]
) -> None:
    value(session, "data = list(range(100))")
    out, err = magic(repl, capfd, "%timeit -n 10 -r 3 sum(data)")
    match = TIMEIT_LINE.fullmatch(out.strip())
    assert match and match.groups() == ("3", "10"), (out, err)
    out, err = magic(repl, capfd, "%timeit -r1 x = data[:]; x.sort()")  # auto-ranged: 1, 2, 5, 10, 20, ...
    match = TIMEIT_LINE.fullmatch(out.strip())
    assert match, (out, err)
    loops = int(match.group(2).replace(",", ""))
    assert match.group(1) == "1" and re.fullmatch(r"[125]0*", str(loops)), out
    assert value(session, "'x' in globals()") == "False"  # the statement's names stay in its function


def test_timeit_errors_are_short_and_the_session_goes_on(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str]
) -> None:
    for line in ("%timeit", "%timeit -n", "%timeit -n 0 pass", "%timeit -x 3 pass"):
        _out, err = magic(repl, capfd, line)
        assert err.startswith("usage: %timeit [-n N -r R] STMT"), (line, err)
    _, err = magic(repl, capfd, "%timeit 1 +")
    assert err.startswith("remrepl: %timeit: invalid syntax") and "Traceback" not in err, err
    _, err = magic(repl, capfd, "%timeit undefined_name")
    assert "NameError: name 'undefined_name' is not defined" in err, err
    assert "<remrepl-" not in err and "ipython_magics" not in err and "timeit.py" not in err, err
    assert value(session, "1 + 1") == "2"


SCRIPT = """\
import sys
print(__name__, sys.argv, __file__ == {path!r})
def twice(x):
    return 2 * x
answer = twice(21)
if __name__ == "__main__":
    print("main block ran")
"""

FAILING = """\
def divide(x):
    return 1 / x

before = "defined before the error"
divide(0)
after = "never"
"""


def test_run_a_local_file_as_main_whose_names_join_the_session(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(path=str(script)))
    value(session, "import sys; saved_argv = list(sys.argv)")
    out, err = magic(repl, capfd, f"%run {script} 'two words' -v")
    assert out == f"__main__ [{str(script)!r}, 'two words', '-v'] True\nmain block ran\n", (out, err)
    assert value(session, "answer, twice(2), __name__") == "(42, 4, '__main__')"
    assert value(session, "sys.argv == saved_argv") == "True"  # restored after the run
    out, err = magic(repl, capfd, f"%run {tmp_path / 'script'}")  # "script" finds script.py, as in IPython
    assert out.startswith("__main__ [") and err == "", (out, err)


def test_a_failing_file_shows_its_own_lines_and_keeps_what_it_defined(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    failing = tmp_path / "failing.py"
    failing.write_text(FAILING)
    _, err = magic(repl, capfd, f"%run {failing}")
    assert err == (
        "Traceback (most recent call last):\n"
        f'  File "{failing}", line 5, in <module>\n'
        "    divide(0)\n"
        f'  File "{failing}", line 2, in divide\n'
        "    return 1 / x\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    ), err
    assert value(session, "before") == "'defined before the error'"
    assert value(session, "'after' in globals()") == "False"


def test_run_errors(repl: Repl, capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _out, err = magic(repl, capfd, "%run")
    assert err == "usage: %run FILE [ARGS...]\n"
    _, err = magic(repl, capfd, f"%run {tmp_path / 'missing.py'}")
    assert err == f"remrepl: %run: cannot read {tmp_path / 'missing.py'}: No such file or directory\n"
    _, err = magic(repl, capfd, "%run 'unclosed")
    assert err.startswith("usage: %run FILE [ARGS...]\n  (No closing quotation)"), err


def test_cd_and_pwd_move_the_remote_working_directory(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = value(session, "__import__('os').getcwd()")
    out, err = magic(repl, capfd, "%pwd")
    assert out == f"{start}\n" and err == ""
    out, err = magic(repl, capfd, f"%cd {tmp_path}")
    assert out == f"{tmp_path}\n", (out, err)
    assert value(session, "__import__('os').getcwd()") == repr(str(tmp_path))
    out, err = magic(repl, capfd, "%cd")
    assert out == f"{os.path.expanduser('~')}\n", (out, err)  # the server runs here: the same home
    out, err = magic(repl, capfd, "%cd -")
    assert out == f"{tmp_path}\n", (out, err)
    out, err = magic(repl, capfd, f"%cd {tmp_path / 'nowhere'}")
    assert err == f"remrepl: %cd: [Errno 2] No such file or directory: '{tmp_path / 'nowhere'}'\n", err
    assert magic(repl, capfd, "%pwd")[0] == f"{str(tmp_path)!r}\n"  # unchanged by the failed %cd
    assert magic(repl, capfd, "%cd a b")[1] == "usage: %cd [DIR | -]\n"
    assert magic(repl, capfd, "%pwd x")[1] == "usage: %pwd\n"


def test_env_lists_shows_and_sets_remote_variables(
    repl: Repl, session: Session, capfd: pytest.CaptureFixture[str]
) -> None:
    value(session, "import os; os.environ['REMREPL_TEST_API_TOKEN'] = 'not for your eyes'")
    out, err = magic(repl, capfd, "%env REMREPL_TEST_A=1=2")
    assert out == "env: REMREPL_TEST_A=1=2\n", (out, err)
    out, err = magic(repl, capfd, "%env REMREPL_TEST_B two words")
    assert out == "env: REMREPL_TEST_B=two words\n", (out, err)
    assert magic(repl, capfd, "%env REMREPL_TEST_B")[0] == "'two words'\n"
    assert value(session, "os.environ['REMREPL_TEST_A']") == "'1=2'"
    out, err = magic(repl, capfd, "%env")
    listed = eval(out)  # a dict's repr, as IPython shows it
    assert listed["REMREPL_TEST_A"] == "1=2" and listed["REMREPL_TEST_API_TOKEN"] == "<hidden>"
    out, err = magic(repl, capfd, "%env REMREPL_TEST_MISSING")
    assert (out, err) == ("", "remrepl: %env: the environment has no variable REMREPL_TEST_MISSING\n")
    assert magic(repl, capfd, "%env =1")[1].startswith("usage: %env [NAME[=VALUE]]")


def test_debug_drives_pdb_through_remote_input(repl: Repl, session: Session, capfd: pytest.CaptureFixture[str]) -> None:
    out, err = magic(repl, capfd, "%debug")
    assert err == "No traceback has been produced, nothing to debug.\n"
    value(session, "def inner(x):\n    return 1 / x\n")
    assert session.run("inner(0)").status == "error"
    answers, prompts = ["p x", "up", "up", "q"], []

    def answer(prompt: str, password: bool) -> str | None:
        prompts.append(prompt)
        return answers.pop(0) if answers else None

    session.input_handler = answer
    out, err = magic(repl, capfd, "%debug")
    assert prompts == ["(Pdb) "] * 4 and answers == [], prompts
    lines = out.splitlines()
    assert lines[:3] == ["> <remote-2>(2)inner()", "-> return 1 / x", "0"], out
    assert lines[3:] == ["> <remote-3>(1)<module>()", "-> inner(0)", "*** Oldest frame"], out
    answers[:] = ["up", "up", "q"]
    result = session.run("import pdb; pdb.pm()", timeout=30)  # as at >>>: the same frames, no kernel's
    assert result.ok and answers == [], result
    assert result.stdout.splitlines()[2:] == ["> <remote-3>(1)<module>()", "-> inner(0)", "*** Oldest frame"]
    assert value(session, "1 + 1") == "2"


def test_help_lists_the_new_magics_with_their_usage(repl: Repl, capfd: pytest.CaptureFixture[str]) -> None:
    out, _ = magic(repl, capfd, "%help")
    for name in ("%timeit", "%run", "%cd", "%pwd", "%env", "%history", "%debug"):
        line = next((line for line in out.splitlines() if line.strip().startswith(MAGICS[name].usage)), None)
        assert line is not None and line.strip() != MAGICS[name].usage, (name, out)  # a description follows


def test_breakpoint_in_an_exec_script_reads_pdb_commands_from_stdin(tmp_path: Path) -> None:
    script = tmp_path / "stops.py"
    script.write_text("def f(x):\n    y = x + 1\n    breakpoint()\n    return y\nprint(f(1))\n")
    done = run_cli("exec", "--launch", str(script), stdin="p y\nup\nup\nc\n")
    assert (done.returncode, done.stderr) == (0, ""), done
    assert done.stdout.splitlines() == [  # what `python stops.py` prints given the same input
        f"> {script}(4)f()",
        "-> return y",
        "(Pdb) 2",
        f"(Pdb) > {script}(5)<module>()",
        "-> print(f(1))",
        "(Pdb) *** Oldest frame",
        "(Pdb) 2",
    ]
