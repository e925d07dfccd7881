"""The CPython tutorial's ``>>>`` examples, as material for the fidelity suite (tests/fidelity/): found in
Debian's ``python3.X-doc`` package, extracted with doctest's own parser, grouped per page, sorted into
comparable and not, and replayed locally through ``code.InteractiveConsole``.

"Comparable" is decided from the tutorial's text alone (the example's source and the output the page
shows), before anything runs: see ``NOT_COMPARABLE``, and docs/differences.md.
"""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

DOC_ROOTS = (Path("/usr/share/doc"),)
REPLAY_TIMEOUT = 60.0  # one page's local replay, an upper bound


@dataclass
class Example:
    page: str
    lineno: int  # where the example starts on the page's reST source (1-based)
    source: str
    want: str  # the output the page shows (only used to sort examples, never compared)
    category: str = ""  # "" when comparable, else the NOT_COMPARABLE key

    @property
    def name(self) -> str:
        return f"{self.page}:{self.lineno}"


@dataclass
class Page:
    name: str
    examples: list[Example] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # files the page asks the reader to create


# Why an example's output cannot be the same in two interpreters, decided from the page's text. The first
# rule that matches names the category. "skip" examples are not even typed (they would wait for a human,
# a pager or the network); the others are typed on both sides, to keep the page's namespace whole, and
# not compared.
NOT_COMPARABLE: dict[str, tuple[str, str, bool]] = {
    # category: (what the rule looks for, where: "source" or "want", skip)
    "input": (r"\binput\(", "source", True),  # waits for a typed answer
    "help": (r"\bhelp\(", "source", True),  # the pager of interactive help
    "endless": (r"while True:\n\s+pass", "source", True),  # runs until Ctrl-C
    "network": (r"urlopen|smtplib|\bserver\.", "source", True),  # needs a mail server, the internet
    "address": (r"\bat (0x)?[0-9A-Fa-f]{6,}>|\bid\(", "want", False),  # a memory address: differs per process
    # the clock: today's date and what is computed from it (``now``, ``age``), timings
    "clock": (r"\btoday\(|\b(now|age)\b|timeit|Timer\(|\btime\.(time|strftime|localtime)", "source", False),
    "random": (r"\brandom\.\w+\(", "source", False),  # a random draw
    "working directory": (r"\bos\.getcwd\(", "source", False),  # the path of the session's folder
    "garbage": (r"\bgc\.collect\(", "source", False),  # how many objects this process had left to collect
}


def doc_sources(version: str = f"{sys.version_info[0]}.{sys.version_info[1]}") -> Path | None:
    """The folder of the tutorial's reST sources (``.rst.txt``) of the installed ``python3.X-doc``."""
    for root in DOC_ROOTS:
        folder = root / f"python{version}" / "html" / "_sources" / "tutorial"
        if folder.is_dir():
            return folder
    return None


def categorise(source: str, want: str) -> tuple[str, bool]:
    code = re.sub(r"\s+#[^\n]*", "", source)  # the rules read code, not comments ("# ... now leaves")
    for category, (pattern, where, skip) in NOT_COMPARABLE.items():
        if re.search(pattern, code if where == "source" else want):
            return category, skip
    return "", False


def module_file(text: str, filename: str) -> str | None:
    """The literal block that follows "called :file:`NAME` ... contents::" on a page (the tutorial's
    ``fibo.py``), dedented; None when the page asks for no such file."""
    match = re.search(rf":file:`{re.escape(filename)}`[^\n]*contents::\n\n((?:[ ]+[^\n]*\n|\n)+)", text)
    return textwrap.dedent(match.group(1)).strip() + "\n" if match else None


def load_pages(folder: Path) -> list[Page]:
    """Every tutorial page with at least one example, examples in page order; skipped ones left out."""
    parser = doctest.DocTestParser()
    pages = []
    for path in sorted(folder.glob("*.rst.txt")):
        text = path.read_text(encoding="utf-8")
        page = Page(path.name.removesuffix(".rst.txt"))
        fibo = module_file(text, "fibo.py")
        if fibo is not None:
            page.files["fibo.py"] = fibo
        for example in parser.get_examples(text):
            category, skip = categorise(example.source, example.want)
            page.examples.append(
                Example(
                    page.name,
                    example.lineno + 1,
                    example.source,
                    example.want,
                    "skip:" + category if skip else category,
                )
            )
        if page.examples:
            pages.append(page)
    return pages


# --- the local side: code.InteractiveConsole -----------------------------------------------------------

# Run by ``python -c`` in the page's own folder: reads the pages' examples (JSON on stdin), answers with
# each example's lines as pushed (the blank line that ends a block included) and its output.
REPLAY = r"""
import builtins, code, importlib.machinery, io, json, sys
examples = json.load(sys.stdin)
real_stdout = sys.stdout
# The namespace of a fresh ``python`` at >>>, and what that interpreter sets for its prompt.
namespace = {"__name__": "__main__", "__doc__": None, "__package__": None,
             "__loader__": importlib.machinery.BuiltinImporter,
             "__spec__": None, "__annotations__": {}, "__builtins__": builtins}
sys.argv = [""]
sys.path[0] = ""
sys.ps1, sys.ps2 = ">>> ", "... "
# python's >>> prints an exception with the interpreter's own display (sys.__excepthook__, which adds
# "Did you mean ...?" to a NameError); the console uses it only when sys.excepthook is not that very
# function, and else the traceback module (which, before 3.12, adds none). The hook is given the
# console's own frames too (code.py, codeop.py): the typed input's start where python's >>> starts.
def display(kind, value, tb):
    while tb is not None and tb.tb_frame.f_code.co_filename != "<console>":
        tb = tb.tb_next
    sys.__excepthook__(kind, value.with_traceback(tb), tb)  # it shows the exception's own __traceback__
sys.excepthook = display
console = code.InteractiveConsole(namespace)
# One stream for stdout and stderr, as on a terminal, for the whole page: a handler that kept the stream
# of an earlier example (logging's) still writes where the next example's output is read.
stream = io.StringIO()
sys.stdout = sys.stderr = stream
results = []
for source in examples:
    start = stream.tell()
    typed, more = [], False
    for line in source.splitlines():
        more = console.push(line)
        typed.append([line, more])
    if more:  # the blank line that ends a block (the page's closing "...")
        typed.append(["", console.push("")])
    results.append({"typed": typed, "output": stream.getvalue()[start:]})
real_stdout.write(json.dumps(results))
"""


def replay_locally(page: Page, folder: Path, env: dict[str, str]) -> list[dict[str, object]]:
    """The page's typed examples through ``code.InteractiveConsole`` in a fresh ``python`` in ``folder``:
    for each, the lines pushed and the output."""
    sources = [example.source for example in page.examples if not example.category.startswith("skip:")]
    result = subprocess.run(
        [sys.executable, "-c", REPLAY],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=REPLAY_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"the local replay of {page.name} failed:\n{result.stderr}")
    replies: list[dict[str, object]] = json.loads(result.stdout)
    return replies


# The name each side gives typed input in a traceback (``File "<console>"`` for the console, ``<stdin>``
# for python itself, ``<remote-N>`` at remote>): made the same, the one normalisation of the output.
INPUT_NAME = re.compile(r"<(console|stdin|remote-\d+)>")


# A traceback's frame of typed input (in an exception group, behind the group's margin ``  | ``). At
# remote> the typed line and its carets follow it, as on Python 3.13's prompt (remrepl keeps typed code
# in linecache: docs/differences.md, "Tracebacks and big output"); python 3.11's >>> has no source for
# typed input and shows nothing there. Only a frame (``, in NAME``) is followed so: a SyntaxError's
# location line (``File "<input>", line 1`` and its carets, which python 3.11 shows too) stays compared.
TYPED_FRAME = re.compile(r'^(?P<margin>.*?)  File "<input>", line \d+, in ')
# A warning about typed input (``<input>:1: DeprecationWarning: ...``): at remote> the warnings module
# finds the typed line too and shows it on the next line, indented by two spaces, as it does for a file.
TYPED_WARNING = re.compile(r"^<input>:\d+: \w+: ")


def normalise(lines: list[str]) -> list[str]:
    """The strict form: only the name of typed input made the same."""
    return [INPUT_NAME.sub("<input>", line) for line in lines]


def without_typed_source(lines: list[str]) -> list[str]:
    """``normalise`` and, under a frame of (or a warning about) typed input, no source or caret lines (see
    TYPED_FRAME, TYPED_WARNING): the one named difference the normalised figure leaves out."""
    kept: list[str] = []
    margin = None  # how the typed source under the last frame (or warning) of typed input starts
    single = False  # a warning shows one source line; a frame its line and carets
    for line in normalise(lines):
        if margin is not None and line.startswith(margin):
            margin = None if single else margin
            continue
        frame = TYPED_FRAME.match(line)
        if frame:
            margin, single = frame.group("margin") + "    ", False
        else:
            margin, single = ("  ", True) if TYPED_WARNING.match(line) else (None, False)
        kept.append(line)
    return kept


def as_on_screen(output: str) -> list[str]:
    """Output as a terminal shows it (tabs to spaces, no trailing blanks), the form capture-pane gives."""
    lines = [line.expandtabs().rstrip() for line in output.split("\n")]
    if lines and not lines[-1]:
        lines.pop()  # what follows the last newline; an empty line printed before it stays
    return lines
