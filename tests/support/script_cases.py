"""Real scripts for the fidelity suite (tests/fidelity/test_scripts.py): standard-library command lines with
arguments and standard input, the documentation's multiprocessing, atexit, asyncio, argparse and unittest
examples, pytest, pipes and exits. Each case is run as ``python FILE ARGS`` and as ``remrepl exec FILE
ARGS`` with the same standard input, in the same folder.

``{work}`` in an argument is the folder of the case's files; ``{script}`` is the case's own script (its
``source``); ``{mod:NAME}`` is the file of the standard-library module NAME (``python -m NAME`` run as the
file it is, since ``remrepl exec`` takes a file); ``{bin:NAME}`` a console script of this environment.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import pickle
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Case:
    name: str
    args: list[str]  # after the interpreter: a file and its arguments
    source: str = ""  # the script {script}, when the case has one
    stdin: bytes = b""
    files: dict[str, str] = field(default_factory=dict)  # more files next to the script
    pipe: str = ""  # a shell command the output is piped into (``head -n 2``)


def module_file(name: str) -> str:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return spec.origin


def expand(arg: str, work: Path, script: Path) -> str:
    arg = arg.replace("{work}", str(work)).replace("{script}", str(script))
    arg = re.sub(r"\{mod:([\w.]+)\}", lambda m: module_file(m.group(1)), arg)
    return re.sub(r"\{bin:([\w-]+)\}", lambda m: str(Path(sys.executable).with_name(m.group(1))), arg)


# --- what must differ between two runs, made the same (docs/differences.md lists each) ------------------

TIMINGS = [
    (re.compile(r"\d+ loops?, best of \d+: [\d.]+ \w+ per loop"), "N loops, best of N: T per loop"),  # timeit
    (re.compile(r"Ran (\d+ tests?) in [\d.]+s"), r"Ran \1 in Ts"),  # unittest
    (re.compile(r" in [\d.]+s\b"), " in Ts"),  # pytest's summary line
    (re.compile(r" at 0x[0-9a-f]+"), " at 0xADDRESS"),  # a memory address (dis shows code objects')
]


def normalise(data: bytes) -> bytes:
    text = data.decode("utf-8", "surrogateescape")
    for pattern, replacement in TIMINGS:
        text = pattern.sub(replacement, text)
    return text.encode("utf-8", "surrogateescape")


# --- input files --------------------------------------------------------------------------------------

TEXT = "The quick brown fox\njumps over the lazy dog.\nCaf\u00e9 = 3 \u20ac\n"
JSON = '{"b": [1, 2, {"c": null}], "a": "x\u00e9"}'


def write_inputs(work: Path) -> None:
    (work / "data.txt").write_text(TEXT, encoding="utf-8")
    (work / "data.json").write_text(JSON, encoding="utf-8")
    (work / "data.txt.gz").write_bytes(gzip.compress(TEXT.encode(), mtime=0))
    with zipfile.ZipFile(work / "data.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("a.txt", (2020, 1, 2, 3, 4, 6)), "alpha\n")
        archive.writestr(zipfile.ZipInfo("dir/b.txt", (2021, 5, 6, 7, 8, 10)), "beta\n" * 10)
    with tarfile.open(work / "data.tar", "w") as archive:
        for name, body in (("a.txt", b"alpha\n"), ("dir/b.txt", b"beta\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uname, info.gname = len(body), 1_600_000_000, "u", "g"
            archive.addfile(info, io.BytesIO(body))
    (work / "data.pkl").write_bytes(pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)}, protocol=4))
    (work / "tests_dir").mkdir()
    (work / "tests_dir" / "test_small.py").write_text(
        "import pytest\n\ndef test_ok():\n    assert 1 + 1 == 2\n\n"
        "@pytest.mark.parametrize('n', [1, 2, 3])\ndef test_param(n):\n    assert n < 3\n",
        encoding="utf-8",
    )
    (work / "doc.txt").write_text(">>> 1 + 1\n2\n>>> print('a')\na\n", encoding="utf-8")
    (work / "doc_bad.txt").write_text(">>> 1 + 1\n3\n", encoding="utf-8")


def bytes_of(text: str) -> bytes:
    return text.encode("utf-8")


CASES: list[Case] = [
    # --- standard-library command lines -------------------------------------------------------------------
    Case("base64-encode-stdin", ["{mod:base64}", "-e"], stdin=bytes_of(TEXT)),
    Case("base64-decode-stdin", ["{mod:base64}", "-d"], stdin=b"aGVsbG8gd29ybGQK"),
    Case("base64-decode-file", ["{mod:base64}", "-d", "{work}/b64.txt"], files={"b64.txt": "aGVsbG8K\n"}),
    Case("gzip-decompress-stdin", ["{mod:gzip}", "-d"], stdin=gzip.compress(TEXT.encode(), mtime=0)),
    Case("json.tool-stdin", ["{mod:json.tool}"], stdin=bytes_of(JSON)),
    Case("json.tool-sort-keys-file", ["{mod:json.tool}", "--sort-keys", "{work}/data.json"]),
    Case("json.tool-compact", ["{mod:json.tool}", "--compact", "{work}/data.json"]),
    Case("json.tool-invalid", ["{mod:json.tool}"], stdin=b"{not json"),
    Case("json.tool-json-lines", ["{mod:json.tool}", "--json-lines"], stdin=b'{"a": 1}\n[2, 3]\n'),
    Case("calendar-month", ["{mod:calendar}", "2024", "2"]),
    Case("calendar-year", ["{mod:calendar}", "2023"]),
    Case("calendar-bad-month", ["{mod:calendar}", "2024", "13"]),
    Case("zipfile-list", ["{mod:zipfile}", "-l", "{work}/data.zip"]),
    Case("zipfile-test", ["{mod:zipfile}", "-t", "{work}/data.zip"]),
    Case("tarfile-list", ["{mod:tarfile}", "-l", "{work}/data.tar"]),
    Case("tarfile-list-verbose", ["{mod:tarfile}", "-v", "-l", "{work}/data.tar"]),
    Case("tarfile-missing", ["{mod:tarfile}", "-l", "{work}/nothing.tar"]),
    Case("uuid3", ["{mod:uuid}", "-u", "uuid3", "-n", "@dns", "-N", "example.com"]),
    Case("uuid5", ["{mod:uuid}", "-u", "uuid5", "-n", "@url", "-N", "https://example.com"]),
    Case("timeit", ["{mod:timeit}", "-n", "10", "-r", "1", "x = 1"]),  # one repeat: no "unreliable" warning
    Case("timeit-help", ["{mod:timeit}", "-h"]),
    Case("shlex-stdin", ["{mod:shlex}"], stdin=b"echo 'a b' \"c d\" e\\ f # comment\n"),
    Case("quopri-encode-stdin", ["{mod:quopri}"], stdin=bytes_of(TEXT)),
    Case("quopri-decode-stdin", ["{mod:quopri}", "-d"], stdin=b"Caf=C3=A9 =E2=82=AC\n"),
    Case("tokenize-file", ["{mod:tokenize}", "{work}/data.json"]),
    Case("tokenize-stdin", ["{mod:tokenize}"], stdin=b"x = 1  # c\nif x:\n    pass\n"),
    Case("ast-stdin", ["{mod:ast}"], stdin=b"x = [1, 2]\nprint(x)\n"),
    Case("dis-file", ["{mod:dis}", "{work}/prog.py"], files={"prog.py": "def f(a):\n    return a + 1\n"}),
    Case("pickletools", ["{mod:pickletools}", "{work}/data.pkl"]),
    Case("mimetypes", ["{mod:mimetypes}", "data.txt", "x.tar.gz"]),
    Case("rot13-stdin", ["{mod:encodings.rot_13}"], stdin=b"Hello, World\n"),
    Case("this", ["{mod:this}"]),
    Case("doctest-pass", ["{mod:doctest}", "-v", "{work}/doc.txt"]),
    Case("doctest-fail", ["{mod:doctest}", "{work}/doc_bad.txt"]),
    Case("filecmp", ["{mod:filecmp}", "{work}/tests_dir", "{work}/tests_dir"]),
    Case("pygmentize-stdin", ["{bin:pygmentize}", "-l", "python", "-f", "html"], stdin=b"def f():\n    return 1\n"),
    Case("pygmentize-terminal", ["{bin:pygmentize}", "-l", "json", "-f", "terminal", "{work}/data.json"]),
    Case("pytest-small-dir", ["{bin:pytest}", "-q", "-p", "no:cacheprovider", "{work}/tests_dir"]),
    Case(
        "pytest-main",
        ["{script}", "{work}/tests_dir"],
        "import sys, pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-k', 'ok', sys.argv[1]]))\n",
    ),
    # --- exits and exceptions ------------------------------------------------------------------------------
    Case("exit-0", ["{script}"], "print('done')\n"),
    Case("sys.exit-3", ["{script}"], "import sys\nprint('before')\nsys.exit(3)\n"),
    Case("sys.exit-message", ["{script}"], "import sys\nsys.exit('fatal: no way')\n"),
    Case("sys.exit-none", ["{script}"], "import sys\nsys.exit(None)\n"),
    Case("raise-SystemExit-2", ["{script}"], "raise SystemExit(2)\n"),
    Case("exception-traceback", ["{script}"], "def f(x):\n    return 1 / x\n\nf(0)\n"),
    Case(
        "exception-chained",
        ["{script}"],
        "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('bad') from e\n",
    ),
    Case("exception-syntax-error", ["{script}"], "print('a'\nx = (\n"),
    Case("keyboard-interrupt", ["{script}"], "raise KeyboardInterrupt\n"),
    Case("recursion-error", ["{script}"], "def f():\n    f()\n\nf()\n"),
    Case("os._exit-unflushed", ["{script}"], "import os\nprint('lost in the buffer')\nos._exit(5)\n"),
    Case("sigterm-self", ["{script}"], "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"),
    Case("missing-script", ["{work}/no_such_script.py"]),
    # --- the script's own identity -------------------------------------------------------------------------
    Case(
        "main-identity",
        ["{script}", "one", "two"],
        "import sys, os\nprint(__name__, __file__ == os.path.abspath(__file__), __spec__, sys.argv[1:])\n"
        "print(sys.path[0] == os.path.dirname(os.path.abspath(__file__)))\nprint(repr(__doc__))\n",
    ),
    Case(
        "import-helper-next-to-script",
        ["{script}"],
        "import helper\nprint(helper.VALUE)\n",
        files={"helper.py": "VALUE = 'from the helper'\n"},
    ),
    Case("orig_argv", ["{script}", "x"], "import sys\nprint(sys.orig_argv[1:])\n"),
    Case(
        "stdout-not-a-tty",
        ["{script}"],
        "import sys\nprint(sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty())\n",
    ),
    # --- standard input ------------------------------------------------------------------------------------
    Case("stdin-read-text", ["{script}"], "import sys\ndata = sys.stdin.read()\nprint(repr(data))\n", stdin=b"a\nb"),
    Case(
        "stdin-buffer-binary",
        ["{script}"],
        "import sys\ndata = sys.stdin.buffer.read()\nprint(len(data), data[:4])\n",
        stdin=bytes(range(256)),
    ),
    Case(
        "stdin-read-n",
        ["{script}"],
        "import sys\nprint(repr(sys.stdin.read(3)), repr(sys.stdin.read(3)), repr(sys.stdin.read()))\n",
        stdin=b"abcdefgh",
    ),
    Case(
        "stdin-lines-to-eof",
        ["{script}"],
        "import sys\nfor n, line in enumerate(sys.stdin):\n    print(n, repr(line))\nprint('eof')\n",
        stdin=b"one\ntwo\nthree",
    ),
    Case(
        "stdin-input-then-eof",
        ["{script}"],
        "print(input('name? '))\nprint(input('again? '))\n",
        stdin=b"ada\n",
    ),
    Case(
        "stdin-properties",
        ["{script}"],
        "import sys\nprint(sys.stdin.encoding, sys.stdin.fileno(), sys.stdin.readable(), sys.stdin.buffer.read(2))\n",
        stdin=b"xy",
    ),
    # --- output --------------------------------------------------------------------------------------------
    Case(
        "stdout-and-stderr",
        ["{script}"],
        "import sys, warnings, logging\nprint('out 1')\nprint('err 1', file=sys.stderr)\n"
        "warnings.warn('careful')\nlogging.warning('logged')\nprint('out 2')\n",
    ),
    Case("stdout-no-newline", ["{script}"], "import sys\nsys.stdout.write('no newline at the end')\n"),
    Case("stdout-binary", ["{script}"], "import sys\nsys.stdout.buffer.write(bytes(range(256)))\n"),
    Case("unicode-output", ["{script}"], "print('caf\\u00e9 \\u2713 \\u20ac \\U0001f600')\n"),
    Case(
        "pipe-into-head",
        ["{script}"],
        "for i in range(100000):\n    print('line', i)\n",
        pipe="head -n 2",
    ),
    # --- the end of a script -------------------------------------------------------------------------------
    Case(
        "atexit",
        ["{script}"],
        "import atexit\n\ndef bye(name):\n    print('goodbye', name)\n\natexit.register(bye, 'world')\n"
        "atexit.register(print, 'registered second, runs first')\nprint('main ends')\n",
    ),
    Case(
        "thread-outlives-main",
        ["{script}"],
        "import threading, time\n\ndef work():\n    time.sleep(0.3)\n    print('the thread ends after main')\n\n"
        "threading.Thread(target=work).start()\nprint('main ends')\n",
    ),
    Case(
        "asyncio",
        ["{script}"],
        "import asyncio\n\nasync def say(n):\n    await asyncio.sleep(0.01 * n)\n    return n * n\n\n"
        "async def main():\n    print(await asyncio.gather(*(say(n) for n in range(5))))\n\nasyncio.run(main())\n",
    ),
    # the multiprocessing documentation's first examples, with each start method
    *(
        Case(
            f"multiprocessing-{method}",
            ["{script}"],
            "import multiprocessing as mp\n\ndef foo(q):\n    q.put('hello')\n\nif __name__ == '__main__':\n"
            f"    mp.set_start_method('{method}')\n    q = mp.Queue()\n    p = mp.Process(target=foo, args=(q,))\n"
            "    p.start()\n    print(q.get())\n    p.join()\n    print(p.exitcode)\n",
        )
        for method in ("fork", "spawn", "forkserver")
    ),
    Case(
        "multiprocessing-pool",
        ["{script}"],
        "from multiprocessing import Pool\n\ndef f(x):\n    return x*x\n\nif __name__ == '__main__':\n"
        "    with Pool(2) as p:\n        print(p.map(f, [1, 2, 3]))\n",
    ),
    # --- argparse and unittest -----------------------------------------------------------------------------
    *(
        Case(
            f"argparse-{label}",
            ["{script}", *argv],
            "import argparse\nparser = argparse.ArgumentParser(description='Process some integers.')\n"
            "parser.add_argument('integers', metavar='N', type=int, nargs='+', help='an integer')\n"
            "parser.add_argument('--sum', dest='accumulate', action='store_const', const=sum, default=max,\n"
            "                    help='sum the integers (default: find the max)')\n"
            "args = parser.parse_args()\nprint(args.accumulate(args.integers))\n",
        )
        for label, argv in (("sum", ["--sum", "1", "2", "3"]), ("help", ["--help"]), ("error", ["a"]))
    ),
    *(
        Case(
            f"unittest-{label}",
            ["{script}"],
            "import unittest\n\nclass TestStringMethods(unittest.TestCase):\n    def test_upper(self):\n"
            f"        self.assertEqual('foo'.upper(), '{value}')\n\n"
            "    def test_split(self):\n        self.assertEqual('hello world'.split(), ['hello', 'world'])\n\n"
            "if __name__ == '__main__':\n    unittest.main()\n",
        )
        for label, value in (("pass", "FOO"), ("fail", "FOX"))
    ),
]


def case_files(case: Case, work: Path) -> Path:
    """The case's script and extra files in ``work``; the script's path."""
    script = work / f"{re.sub(r'[^a-z0-9]', '_', case.name)}.py"
    script.write_text(case.source, encoding="utf-8")
    for name, text in case.files.items():
        (work / name).write_text(text, encoding="utf-8")
    return script


def pretty(data: bytes) -> str:
    return json.dumps(data.decode("utf-8", "replace"))[:2000]
