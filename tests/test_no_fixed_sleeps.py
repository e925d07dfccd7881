"""No test waits with a fixed sleep: a test waits on a condition against a deadline (tests/support/waiting.py).

A ``time.sleep`` call in a test module (not code sent to a server as text: that is the subject of a test)
is refused unless the function it is in is allowed below, with the reason. tests/support may poll.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SKIPPED = {"support", "_netguard"}  # the waiting helpers poll; the socket guard is no test

# (module file name, function the call is in) -> why this sleep waits for nothing to happen
ALLOWED = {
    ("test_prompt_idle.py", "test_an_idle_prompt_after_commands_uses_no_cpu"): "the idle window being measured",
    ("test_cli_exec.py", "test_repeated_ctrl_c_ends_a_script_that_ignores_it"): "pacing between Ctrl-C presses",
    ("test_cli_exec.py", "test_repeated_ctrl_c_interrupts_the_script_without_killing_the_interpreter"): (
        "pacing between Ctrl-C presses"
    ),
    ("test_local.py", "die_once"): "a Dask task's own work (it runs on a worker)",
    ("test_ec2.py", "slow"): "a Dask task's own work (it runs on a worker)",
}


def is_sleep(func: ast.expr) -> bool:
    """``time.sleep`` or a bare ``sleep`` (``from time import sleep``)."""
    if isinstance(func, ast.Attribute):
        return func.attr == "sleep" and isinstance(func.value, ast.Name) and func.value.id == "time"
    return isinstance(func, ast.Name) and func.id == "sleep"


def sleep_calls(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, innermost enclosing function or "<module>") of each ``time.sleep(...)`` / ``sleep(...)``."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and is_sleep(child.func):
                found.append((child.lineno, function))
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_no_test_module_sleeps_outside_the_allowlist() -> None:
    offenders, used = [], set()
    for path in sorted(TESTS.rglob("*.py")):
        if SKIPPED & set(path.relative_to(TESTS).parts):
            continue
        for line, function in sleep_calls(ast.parse(path.read_text(), str(path))):
            if (path.name, function) in ALLOWED:
                used.add((path.name, function))
            else:
                offenders.append(f"{path.relative_to(TESTS)}:{line} in {function}")
    assert offenders == [], "fixed sleeps: wait on a condition (tests/support/waiting.py) instead"
    assert used == set(ALLOWED), f"allowed but gone (drop them): {set(ALLOWED) - used}"


def test_the_check_sees_a_sleep_and_not_code_sent_as_text() -> None:
    code = "import time\ndef test_x():\n    time.sleep(1)\n    run('time.sleep(5)')\n"
    assert sleep_calls(ast.parse(code)) == [(3, "test_x")]
