"""When Enter runs the block at the ``remote>`` prompt: exactly when python's ``>>>`` would.

The oracle is ``code.InteractiveConsole`` itself, fed the lines one at a time (``push``, as the standard
REPL reads them). The same lines are typed into the real prompt (its key bindings, through a pipe
instead of a terminal), Enter after each; both must run the block at the same line in every case.
"""

from __future__ import annotations

import code

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from remrepl.cli.ui import is_complete, make_prompt_session

CLEAR_LINE = "\x01\x0b"  # Ctrl-A Ctrl-K: drop the indentation the prompt offers; the line is typed as given
ENTER = "\r"
ALT_ENTER = "\x1b\r"  # runs the buffer as it is
NOT_RUN = "# not run by any Enter"

CASES: dict[str, list[str]] = {
    "one statement": ["x = 1"],
    "an expression": ["1 + 1"],
    "a comment alone": ["# nothing to run"],
    "a docstring with a blank line": ["def f():", '    """Sum up.', "", "    Details.", '    """', "    return 1", ""],
    "a docstring opened on its own line": ["def f():", '    """', "", '    """', ""],
    "a triple-quoted string with blank lines": ['s = """first', "", "", 'last"""'],
    "a triple-quoted f-string": ['s = f"""{1 + 1}', "", '"""'],
    "a single-quoted string continued by a backslash": ["s = 'abc\\", "def'"],
    "a dict literal with a blank line": ["d = {", "", '    "a": 1,', "", "}"],
    "a list with a comment and a blank line": ["xs = [", "    1,", "    # the second", "", "    2,", "]"],
    "a call whose arguments span a blank line": ["print(1,", "", "      2)"],
    "a dict key on one line, its value on the next": ["d = {1:", "2}"],
    "a lambda in brackets": ["f = (lambda x:", "     x + 1)"],
    "a backslash continuation": ["x = 1 + \\", "    2"],
    "a backslash continuation then a blank line": ["x = 1 + \\", ""],
    "an if and a blank line": ["if True:", "    y = 1", ""],
    "an if/else": ["if True:", "    y = 1", "else:", "    y = 2", ""],
    "an if/elif/else with blank lines inside brackets": ["if (True", "", "    ):", "    y = 1", ""],
    "a try/except and a blank line": ["try:", "    1 / 0", "except ZeroDivisionError:", "    pass", ""],
    "a try/finally": ["try:", "    pass", "finally:", "    pass", ""],
    "a blank line before the except": ["try:", "    1 / 0", "", "except ZeroDivisionError:", "    pass", ""],
    "a nested def ended by its first blank line": [
        "def outer():",
        "    def inner():",
        "        return 1",
        "",
        "    return inner()",
        "",
    ],
    "a class whose methods are separated by a blank line": [
        "class A:",
        "    def f(self):",
        "        return 1",
        "",
        "    def g(self):",
        "",
    ],
    "a decorated function": ["@staticmethod", "def f():", "    pass", ""],
    "two decorators": ["@a", "@b", "def f(): pass", ""],
    "a for loop on one line": ["for i in range(3): i", ""],
    "a while/else": ["while False:", "    pass", "else:", "    z = 3", ""],
    "a with block": ["with open('/dev/null') as f:", "    pass", ""],
    "a match statement": ["match 1:", "    case 1:", "        pass", ""],
    "an async def": ["async def f():", "    await g()", ""],
    "a comment inside a block": ["if True:", "    # first a comment", "    x = 1", ""],
    "a statement after a block with no blank line": ["if True:", "    pass", "print(1)"],
    "a def after a block with no blank line": ["if True:", "    pass", "def g():"],
    # where codeop (and so InteractiveConsole) waits on, though python's own >>> reports an error at once
    "a lone decorator and empty lines": ["@decorator", "", ""],
    "a block of only a comment": ["if True:", "    # nothing yet", ""],
    "a syntax error": ["def f(:"],
    "a syntax error inside a block": ["if True:", "    1 +* 2"],
    "an unterminated single-quoted string": ["s = 'abc"],
    "a bad dedent": ["if True:", "        x = 1", "    y = 2"],
    "a closing bracket that does not match": ["x = (1, 2]"],
    "an assignment to a literal": ["1 = x"],
}


def console_submits_at(lines: list[str]) -> int | None:
    """The index of the line at which python's REPL runs the block (``push`` says no more input is
    needed), or None if it is still waiting after the last one. Nothing is run: the console only compiles."""
    console = code.InteractiveConsole()
    console.runcode = lambda code: None  # type: ignore[method-assign]
    console.showsyntaxerror = lambda filename=None, **kwargs: None  # type: ignore[method-assign]
    for index, line in enumerate(lines):
        if not console.push(line):
            return index
    return None


def typed(keys: str) -> str:
    """What the prompt hands over when ``keys`` are typed at it."""
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        return make_prompt_session(InMemoryHistory()).prompt()


def prompt_submits_at(lines: list[str]) -> int | None:
    """The same lines typed at ``remote>``, Enter after each: the line whose Enter ran the block. After
    the last one, a line that no block holds and Alt-Enter: if that comes back, no Enter ran it."""
    text = typed("".join(CLEAR_LINE + line + ENTER for line in lines) + CLEAR_LINE + NOT_RUN + ALT_ENTER)
    if text.endswith(NOT_RUN):
        return None
    return text.count("\n")


@pytest.mark.parametrize("lines", list(CASES.values()), ids=list(CASES))
def test_enter_runs_the_block_where_python_would(lines: list[str]) -> None:
    assert prompt_submits_at(lines) == console_submits_at(lines)


def test_the_cases_cover_blocks_that_a_blank_line_does_not_end() -> None:
    """The table is not trivial: several blocks go on past a blank line, and some never end on the lines given."""
    past_blank = [name for name, lines in CASES.items() if "" in lines[: (console_submits_at(lines) or len(lines))]]
    assert len(past_blank) >= 6, past_blank


@pytest.mark.parametrize(
    "text, complete",
    [
        ("if True:\n    pass\n    ", True),  # the indentation the prompt put on the new line: an empty line
        ("if True:\n    pass\n\t", True),
        ('def f():\n    """Doc.\n    ', False),  # inside the docstring the line is part of the string
        ("d = {\n    ", False),
        ("x = 1 + \\\n    ", True),  # as python: an empty line after a backslash is an error, shown at once
    ],
)
def test_a_line_of_only_indentation_counts_as_empty(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


def test_a_function_with_a_docstring_typed_with_the_prompts_indentation() -> None:
    """As a user types it: no indentation of one's own (the prompt's), Backspace to dedent, blank lines in
    the docstring; only the empty line after the body runs it."""
    keys = ["def f():", '"""Sum up.', "", "Details.", '"""', "return 1", "", ""]
    text = typed(ENTER.join(keys))
    python = 'def f():\n    """Sum up.\n\n    Details.\n    """\n    return 1\n'  # as typed at >>>
    assert text == python  # the line left with only the prompt's indentation is empty, not four spaces
    namespace: dict[str, object] = {}
    exec(text, namespace)
    assert namespace["f"].__doc__ == "Sum up.\n\n    Details.\n    "
