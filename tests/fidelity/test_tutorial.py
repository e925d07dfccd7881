"""The CPython tutorial's ``>>>`` examples typed into a real ``remote>`` prompt, one session per page, and
pushed to ``code.InteractiveConsole`` locally in the same run: the output of every comparable example
must be the same, except the known differences below (each in docs/differences.md). A known difference
that now matches fails too, so the list stays true.

Two figures: *strict* (only the name of typed input made the same) and *normalised*, which also leaves
out the one named difference of tracebacks at remote> (the typed line and carets under a frame of typed
input, 3.13-style: ``tutorial.without_typed_source``). ``KNOWN`` lists what differs even normalised.

Run alone with ``-s`` to see the figures: ``pytest tests/fidelity/test_tutorial.py -s``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.tutorial import (
    Page,
    as_on_screen,
    doc_sources,
    load_pages,
    normalise,
    replay_locally,
    without_typed_source,
)
from tests.support.typist import Typist

SOURCES = doc_sources()
PAGES = {page.name: page for page in load_pages(SOURCES)} if SOURCES else {}

# page:line of the example on the page's reST source -> why remote> shows something else than the console,
# even normalised (docs/differences.md, "Measured: the fidelity suite")
KNOWN: dict[str, str] = {}

# Same seed on both sides: a set of strings is printed in hash order (normalisation, docs/differences.md).
HASH_SEED = "0"


def write_files(page: Page, folder: Path) -> Path:
    folder.mkdir()
    for name, text in page.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def figures() -> Iterator[Counter[str]]:
    """The whole tutorial's figures, summed over the pages and printed at the end (``-s`` shows them)."""
    totals: Counter[str] = Counter()
    yield totals
    if totals["comparable"]:
        print(
            f"\nfidelity tutorial (all pages): {totals['normalised']} identical of {totals['comparable']} comparable"
            f" normalised, {totals['strict']} strict"
        )


@pytest.mark.skipif(SOURCES is None, reason="the python3.X-doc package is not installed (scripts/test installs it)")
@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_tutorial_page_prints_at_the_prompt_what_the_console_prints(
    name: str, terminal: TmuxTerminal, tmp_path: Path, figures: Counter[str]
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

    identical, strict, differing = [], [], {}
    for example, reply in zip(typed_examples, local, strict=True):
        typed = [(str(line), bool(more)) for line, more in reply["typed"]]  # type: ignore[attr-defined]
        result = typist.example(typed)
        if example.category:
            continue  # typed to keep the namespace whole, not compared
        expected = as_on_screen(str(reply["output"]))
        if result.in_step and normalise(result.output) == normalise(expected):
            strict.append(example.name)
        if result.in_step and without_typed_source(result.output) == without_typed_source(expected):
            identical.append(example.name)
        else:
            screen = "\n".join(result.output)
            differing[example.name] = (
                f"{result.note or 'output differs'}\n--- console:\n"
                + "\n".join(normalise(expected))
                + f"\n--- remote>:\n{screen}"
            )
    comparable = len(identical) + len(differing)
    figures.update(comparable=comparable, normalised=len(identical), strict=len(strict))
    others = Counter(example.category for example in page.examples if example.category)
    print(
        f"\nfidelity tutorial {name}: {len(identical)} identical of {comparable} comparable normalised,"
        f" {len(strict)} strict; not: {dict(others)}"
    )
    for example_name, detail in differing.items():
        print(f"  {example_name}: {detail}")

    known = {key for key in KNOWN if key.startswith(name + ":")}
    unexpected = {key: detail for key, detail in differing.items() if key not in known}
    fixed = sorted(known - set(differing))
    assert not unexpected, "examples that differ from the local console:\n" + "\n".join(
        f"{key}: {detail}" for key, detail in unexpected.items()
    )
    assert not fixed, f"known differences that now match (take them out of KNOWN and docs/differences.md): {fixed}"
