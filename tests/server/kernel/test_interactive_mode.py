"""The kernel is an interactive interpreter as python's ``>>>`` is: ``sys.ps1``/``sys.ps2`` are set and
``exit``/``quit`` are python's own; a script run sees none of the prompts, as under ``python FILE``."""

from __future__ import annotations

import builtins
import subprocess
import sys

from remrepl.client.session import Session


def _python_repl(code: str, script: tuple[str, ...] = ("-c", "")) -> str:
    """What python's own interactive mode answers (``-i``: the prompts are set, ``exit`` is site's)."""
    done = subprocess.run([sys.executable, "-i", "-q", *script], input=code, capture_output=True, text=True, timeout=30)
    return done.stdout


def test_the_namespace_and_argv_are_those_of_pythons_prompt(session: Session) -> None:
    code = "import sys; sorted(dir()), sys.argv, __loader__, __spec__, __package__, __doc__, __annotations__"
    # ``python -i`` with no script reads its commands from standard input: argv [''], as at ``>>>``
    assert session.run(code).value == _python_repl(code + "\n", ()).strip()


def test_the_prompts_exist_with_pythons_values(session: Session) -> None:
    value = session.run("import sys; sys.ps1, sys.ps2").value
    assert value == repr((">>> ", "... "))
    assert _python_repl("import sys; sys.ps1, sys.ps2\n").strip() == value


def test_a_prompt_the_user_sets_stays(session: Session) -> None:
    session.run("import sys; sys.ps1 = 'mine> '")
    assert session.run("sys.ps1").value == "'mine> '"


def test_a_script_run_has_no_prompts(session: Session) -> None:
    run = session.run("import sys; print(hasattr(sys, 'ps1'), hasattr(sys, 'ps2'))", mode="script", filename="job.py")
    assert run.stdout == "False False\n"
    assert session.run("import sys; hasattr(sys, 'ps1')").value == "True"  # back at the prompt


def test_exit_and_quit_are_pythons(session: Session) -> None:
    assert session.run("exit").value == repr(builtins.exit) == "Use exit() or Ctrl-D (i.e. EOF) to exit"
    assert session.run("quit").value == repr(builtins.quit)
    for code, exit_code in (("exit()", 0), ("quit(4)", 4), ("import sys; sys.exit(3)", 3), ("raise SystemExit", 0)):
        run = session.run(code)
        assert (run.status, run.exit_code) == ("exit", exit_code), code
    run = session.run("exit('bye')")
    assert (run.status, run.exit_code, run.stderr) == ("exit", 1, "bye\n")  # as python prints it
    assert session.run("1 + 1").value == "2"  # the interpreter itself goes on: the client decides to leave
