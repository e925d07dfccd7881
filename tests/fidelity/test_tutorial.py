"""The CPython tutorial's ``>>>`` examples typed into a real ``remote>`` prompt, one session per page, and
pushed to ``code.InteractiveConsole`` locally in the same run: the output of every comparable example
must be the same, except the known differences below (each in docs/differences.md). A known difference
that now matches fails too, so the list stays true.

Run alone with ``-s`` to see the figures: ``pytest tests/fidelity/test_tutorial.py -s``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.tutorial import Page, as_on_screen, doc_sources, load_pages, normalise, replay_locally
from tests.support.typist import Typist

SOURCES = doc_sources()
PAGES = {page.name: page for page in load_pages(SOURCES)} if SOURCES else {}

# Why remote> shows something else than the console (docs/differences.md, "Measured: the fidelity suite").
SOURCE_LINES = "a traceback or warning quotes the typed line and carets; python 3.11 has no source for typed input"
BLANK_IN_STRING = "a blank line inside an open triple-quoted string ends the block (python reads on)"
AFTER_BLANK_IN_STRING = "uses the function that the example with the blank line in its docstring did not define"
NO_PS1 = "sys.ps1 and sys.ps2 do not exist in the remote session (dir(sys) lacks them)"
NO_ANNOTATIONS = "the remote namespace has no __annotations__ (python's __main__ has one)"
ARGV = "sys.argv is ['-c'] in the remote session, [''] at python's >>>"

# page:line of the example on the page's reST source -> why it differs
KNOWN: dict[str, str] = {
    "classes:416": SOURCE_LINES,
    "classes:417": SOURCE_LINES,
    "classes:418": SOURCE_LINES,
    "classes:420": SOURCE_LINES,
    "classes:422": SOURCE_LINES,
    "classes:424": SOURCE_LINES,
    "classes:443": SOURCE_LINES,
    "classes:444": SOURCE_LINES,
    "classes:445": SOURCE_LINES,
    "classes:446": SOURCE_LINES,
    "classes:447": SOURCE_LINES,
    "classes:461": SOURCE_LINES,
    "classes:462": SOURCE_LINES,
    "classes:463": SOURCE_LINES,
    "classes:464": SOURCE_LINES,
    "classes:465": SOURCE_LINES,
    "classes:467": SOURCE_LINES,
    "classes:753": SOURCE_LINES,
    "classes:754": SOURCE_LINES,
    "classes:756": SOURCE_LINES,
    "classes:813": SOURCE_LINES,
    "classes:841": SOURCE_LINES,
    "classes:844": SOURCE_LINES,
    "classes:871": SOURCE_LINES,
    "classes:917": SOURCE_LINES,
    "classes:919": SOURCE_LINES,
    "controlflow:21": SOURCE_LINES,
    "controlflow:655": SOURCE_LINES,
    "controlflow:791": SOURCE_LINES,
    "controlflow:799": SOURCE_LINES,
    "controlflow:810": SOURCE_LINES,
    "controlflow:821": SOURCE_LINES,
    "controlflow:835": SOURCE_LINES,
    "controlflow:1007": BLANK_IN_STRING,
    "controlflow:1014": AFTER_BLANK_IN_STRING,
    "datastructures:390": SOURCE_LINES,
    "errors:45": SOURCE_LINES,
    "errors:49": SOURCE_LINES,
    "errors:53": SOURCE_LINES,
    "errors:253": SOURCE_LINES,
    "errors:270": SOURCE_LINES,
    "errors:291": SOURCE_LINES,
    "errors:317": SOURCE_LINES,
    "errors:336": SOURCE_LINES,
    "errors:377": SOURCE_LINES,
    "errors:448": SOURCE_LINES,
    "errors:512": SOURCE_LINES,
    "errors:544": SOURCE_LINES,
    "errors:569": SOURCE_LINES,
    "errors:591": SOURCE_LINES,
    "errors:620": SOURCE_LINES,
    "floatingpoint:95": SOURCE_LINES,
    "floatingpoint:98": SOURCE_LINES,
    "floatingpoint:101": SOURCE_LINES,
    "floatingpoint:197": SOURCE_LINES,
    "inputoutput:362": SOURCE_LINES,
    "inputoutput:385": SOURCE_LINES,
    "inputoutput:387": SOURCE_LINES,
    "inputoutput:397": SOURCE_LINES,
    "inputoutput:399": SOURCE_LINES,
    "inputoutput:401": SOURCE_LINES,
    "inputoutput:407": SOURCE_LINES,
    "inputoutput:419": SOURCE_LINES,
    "inputoutput:427": SOURCE_LINES,
    "introduction:104": SOURCE_LINES,
    "introduction:324": SOURCE_LINES,
    "introduction:340": SOURCE_LINES,
    "introduction:344": SOURCE_LINES,
    "modules:282": NO_PS1,
    "modules:284": NO_PS1,
    "modules:315": NO_PS1,
    "modules:343": NO_ANNOTATIONS,
    "stdlib:19": SOURCE_LINES,
    "stdlib:42": SOURCE_LINES,
    "stdlib:44": SOURCE_LINES,
    "stdlib:72": ARGV,
    "stdlib:294": SOURCE_LINES,
    "stdlib2:58": SOURCE_LINES,
    "stdlib2:62": SOURCE_LINES,
    "stdlib2:96": SOURCE_LINES,
    "stdlib2:115": SOURCE_LINES,
    "stdlib2:117": SOURCE_LINES,
    "stdlib2:278": SOURCE_LINES,
}

# Same seed on both sides: a set of strings is printed in hash order (normalisation, docs/differences.md).
HASH_SEED = "0"


def write_files(page: Page, folder: Path) -> Path:
    folder.mkdir()
    for name, text in page.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.skipif(SOURCES is None, reason="the python3.X-doc package is not installed (scripts/test installs it)")
@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_tutorial_page_prints_at_the_prompt_what_the_console_prints(
    name: str, terminal: TmuxTerminal, tmp_path: Path
) -> None:
    page = PAGES[name]
    typed_examples = [example for example in page.examples if not example.category.startswith("skip:")]
    env = {**os.environ, "PYTHONHASHSEED": HASH_SEED}
    local = replay_locally(page, write_files(page, tmp_path / "local"), env)

    terminal.env["PYTHONHASHSEED"] = HASH_SEED
    terminal.width = 250  # the prompt wraps long input itself; output lines are joined by capture-pane -J
    terminal.start([*remrepl_command(), "connect", "--launch"], cwd=write_files(page, tmp_path / "remote"))
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    typist = Typist(terminal)

    identical, differing = [], {}
    for example, reply in zip(typed_examples, local, strict=True):
        typed = [(str(line), bool(more)) for line, more in reply["typed"]]  # type: ignore[attr-defined]
        result = typist.example(typed)
        if example.category:
            continue  # typed to keep the namespace whole, not compared
        expected = normalise(as_on_screen(str(reply["output"])))
        if result.in_step and normalise(result.output) == expected:
            identical.append(example.name)
        else:
            screen = "\n".join(result.output)
            differing[example.name] = (
                f"{result.note or 'output differs'}\n--- console:\n" + "\n".join(expected) + f"\n--- remote>:\n{screen}"
            )
    comparable = len(identical) + len(differing)
    others = Counter(example.category for example in page.examples if example.category)
    print(f"\nfidelity tutorial {name}: {len(identical)} identical of {comparable} comparable; not: {dict(others)}")
    for example_name, detail in differing.items():
        print(f"  {example_name}: {detail}")

    known = {key for key in KNOWN if key.startswith(name + ":")}
    unexpected = {key: detail for key, detail in differing.items() if key not in known}
    fixed = sorted(known - set(differing))
    assert not unexpected, "examples that differ from the local console:\n" + "\n".join(
        f"{key}: {detail}" for key, detail in unexpected.items()
    )
    assert not fixed, f"known differences that now match (take them out of KNOWN and docs/differences.md): {fixed}"
