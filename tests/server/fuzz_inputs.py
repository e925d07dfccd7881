"""What the never-dies state machine (``test_never_dies.py``) throws at a server: hypothesis strategies for
client events, malformed frames, user code, kernel-channel writes and transfer paths.

Everything here is data; the machine sends it. Sizes are chosen to cross the limits that matter (the
codec's 1 MiB header, the 1 MiB Stream coalescing, 300-character file names) without costing seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import re
from dataclasses import dataclass

from hypothesis import strategies as st

from remrepl.protocol import (
    CancelTransfer,
    Complete,
    Detach,
    Download,
    DownloadAck,
    Execute,
    GetObject,
    Hello,
    InputReply,
    Inspect,
    Interrupt,
    PutObject,
    Restart,
    Upload,
    UploadChunk,
    UploadEnd,
)
from remrepl.protocol.events import Event
from remrepl.protocol.side_channel import pack_frames
from remrepl.protocol.transfers import EntryKind


@dataclass(frozen=True)
class Repeat:
    """``prefix + fill * count + suffix``, written by the kernel: too big to travel as a literal in code."""

    prefix: bytes
    fill: bytes
    count: int
    suffix: bytes

    def value(self) -> bytes:
        return self.prefix + self.fill * self.count + self.suffix

    def expression(self) -> str:
        return f"{self.prefix!r} + {self.fill!r} * {self.count} + {self.suffix!r}"


SENTINEL = "fuzz_sentinel_7f3a"  # set in the kernel at the start; nothing generated here may name it
BASE = "{base}"  # stands for the example's private directory in generated paths (the machine fills it in)

# Text with everything JSON can carry and a terminal cannot: lone surrogates, NUL, control characters.
any_char = st.one_of(st.characters(exclude_categories=()), st.characters(categories=["Cs"]), st.just("\x00"))
texts = st.text(any_char, max_size=12)
big_text = st.sampled_from([1_000, 300_000, 900_000]).map(lambda n: "r" * n)
req_ids = st.one_of(st.just(""), texts, big_text)
seqs = st.one_of(st.integers(-3, 60), st.sampled_from([2**31, 2**63, 2**70, -(2**70)]))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)

# User code, by name (so a failing run prints which). Values that change what the machine expects of the
# kernel (it restarts) are listed in RESTARTS.
SNIPPETS: dict[str, str] = {
    "one_plus_one": "1+1",
    "big_str_result": "'x' * 2_000_000",
    "big_list_result": "list(range(300_000))",
    "many_results": "for i in range(300_000): i",
    "big_print": "print('y' * 3_000_000)",
    "big_error": "raise ValueError('z' * 3_000_000)",
    "deep_recursion": "def f(n):\n    return f(n + 1)\nf(0)",
    "long_chained_traceback": (
        "def g(n):\n    try:\n        1 / 0 if n == 0 else g(n - 1)\n"
        "    except Exception as e:\n        raise ValueError(str(n) * 3000) from e\ng(400)"
    ),
    "non_utf8_code_name": "exec(compile('1/0', 'job-\\udce9.py', 'exec'))",
    "non_utf8_script": (
        "import os, runpy\nwith open(b'job-\\xe9.py', 'w') as f:\n    f.write('raise RuntimeError(1)\\n')\n"
        "runpy.run_path(os.fsdecode(b'job-\\xe9.py'))"
    ),
    "non_utf8_output": "import os; os.write(1, b'\\xe9\\xff\\xfe\\n'); print('\\udce9'); '\\udce9'",
    "bad_repr": "class R:\n    def __repr__(self):\n        raise RuntimeError('no repr')\nR()",
    "repr_not_str": "class R2:\n    def __repr__(self):\n        return 5\nR2()",
    "slow_repr_shown": "slow",
    "sleep": "import time; time.sleep(0.8)",
    "gil_busy": "sum(range(15_000_000))",
    "input": "input('fuzz? ')",
    "getpass": "import getpass; getpass.getpass()",
    "thread_prints": (
        "import threading, time\ndef spam():\n    for i in range(40):\n"
        "        print('bg', i)\n        time.sleep(0.01)\nthreading.Thread(target=spam, daemon=True).start()"
    ),
    "print_loop": "import time\nfor i in range(60):\n    print(i, flush=True)\n    time.sleep(0.01)",
    "stderr_flood": "import sys\nfor i in range(20_000): print(i, file=sys.stderr)",
    "exit": "exit(3)",
    "system_exit_text": "raise SystemExit('bye')",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "subprocess_output": "import subprocess; subprocess.run(['echo', 'sub'])",
    "die": "import os; os._exit(3)",
}
RESTARTS = frozenset({"die"})
snippet_names = st.sampled_from(sorted(SNIPPETS))
codes = st.one_of(snippet_names.map(SNIPPETS.__getitem__), texts)

# What the kernel holds from the start, for side requests to find (a slow repr, an unpicklable lock...).
SETUP = (
    "import threading, time\n"
    "class Slow:\n    def __repr__(self):\n        time.sleep(1.0)\n        return 'slow'\n"
    "slow = Slow()\nlock = threading.Lock()\nbig = b'b' * 5_000_000\nsmall = [1, 'two', 3.0]\n"
)
object_names = st.one_of(st.sampled_from(["slow", "lock", "big", "small", "nope", "a.b", "", "__builtins__"]), texts)
BIG_PICKLE = pickle.dumps(b"p" * 2_000_000)


@dataclass(frozen=True)
class HugePut:
    """A PutObject of a 2 MB pickle, made when sent (so a failing run's printed steps stay short)."""

    req_id: str

    def event(self) -> PutObject:
        return PutObject(self.req_id, "huge", BIG_PICKLE)


pickles = st.one_of(st.binary(max_size=40), json_values.map(lambda v: pickle.dumps(v)))

side_requests = st.one_of(
    st.builds(Complete, req_ids, st.one_of(st.sampled_from(["sl", "slow.", "lock.", "big."]), texts), seqs),
    st.builds(Inspect, req_ids, object_names, seqs),
    st.builds(GetObject, req_ids, object_names),
    st.builds(PutObject, req_ids, object_names.filter(lambda n: n != SENTINEL), pickles),
    st.builds(HugePut, req_ids),
)

# --- transfer paths --------------------------------------------------------------------------------

names = st.one_of(
    st.sampled_from(["f.txt", "data.bin", "tree", ".", "..", "", "a/b", "job-\udce9", "nul\x00name"]),
    st.sampled_from([300, 5_000]).map(lambda n: "n" * n),
    texts,
)
# Remote paths stay inside the example's directory: relative ones start in its work/ (at most two "..",
# and work/ is two levels down), absolute ones under BASE; "~" would be root's home, so only a user
# that does not exist.
remote_paths = st.one_of(
    names,
    st.builds(lambda a, b: f"{a}/{b}", st.sampled_from(["tree", "..", "../..", "nowhere", "data.bin"]), names),
    st.builds(lambda n: f"{BASE}/{n}", names),
    st.sampled_from([f"{BASE}/l1/l2/work/tree/", f"{BASE}/", "/dev/null", "~nosuchuser_fuzz/x", "tree/"]),
)
entry_paths = st.one_of(st.just(""), names, st.builds(lambda a, b: f"{a}/{b}", names, names))
xfer_ids = st.one_of(st.sampled_from(["a", "b", ""]), texts, big_text)
kinds: st.SearchStrategy[EntryKind] = st.sampled_from(["file", "dir"])


@st.composite
def upload_chunks(draw: st.DrawFn) -> UploadChunk:
    data = draw(st.binary(max_size=64))
    sha = draw(st.sampled_from(["right", "wrong", ""]))
    digest = hashlib.sha256(data).hexdigest() if sha == "right" else ("0" * 64 if sha == "wrong" else "")
    mode = draw(st.one_of(st.just(0o644), st.integers(-5, 2**40)))
    return UploadChunk(
        draw(xfer_ids), draw(entry_paths), draw(kinds), draw(seqs), data, draw(st.booleans()), digest, mode
    )


transfer_events = st.one_of(
    st.builds(Upload, xfer_ids, remote_paths, names, kinds, seqs),
    upload_chunks(),
    st.builds(UploadEnd, xfer_ids),
    st.builds(Download, xfer_ids, remote_paths),
    st.builds(DownloadAck, xfer_ids, seqs),
    st.builds(CancelTransfer, xfer_ids, texts),
)

# --- client events and frames ----------------------------------------------------------------------

client_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(Hello, st.one_of(st.just(2), st.integers(-1, 5)), st.one_of(st.none(), seqs), st.booleans()),
    st.builds(
        Execute,
        req_ids,
        codes,
        st.sampled_from(["interactive", "script"]),
        st.one_of(st.just("<remote>"), names),
        st.lists(texts, max_size=3).map(tuple),
        seqs,
    ),
    st.builds(Interrupt, req_ids),
    st.builds(InputReply, req_ids, seqs, texts, st.booleans()),
    st.builds(Detach, seqs),
    st.builds(Restart, req_ids),  # Shutdown is left out: it legitimately ends the server
    side_requests,
    transfer_events,
)

TYPE_NAMES = ["hello", "execute", "interrupt", "input_reply", "detach", "restart", "complete", "inspect"]
TYPE_NAMES += ["get_object", "put_object", "upload", "upload_chunk", "download", "welcome", "done", "nope"]
FIELD_NAMES = ["req_id", "code", "mode", "seq", "ack", "resume_from", "side", "protocol", "xfer_id", "remote"]
FIELD_NAMES += ["name", "kind", "size", "offset", "cursor", "detail", "text", "eof", "argv", "filename"]


def _header(fields: dict[str, object]) -> bytes:
    return json.dumps(fields).encode()


malformed_frames = st.one_of(
    st.lists(st.binary(max_size=48), min_size=1, max_size=6),
    st.builds(
        lambda t, fields, extra: [_header({"type": t, **fields}), *extra],
        st.sampled_from(TYPE_NAMES),
        st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=5),
        st.lists(st.binary(max_size=16), max_size=5),
    ),
    st.builds(lambda v: [json.dumps(v).encode()], json_values),
    st.sampled_from(
        [
            [Repeat(b'{"type": "hello", "pad": "', b"a", 2 << 20, b'"}')],  # a header over the 1 MiB limit
            [b"[" * 100_000],  # JSON nested beyond the recursion limit
            [b'{"type": "hello"}', *[b"x"] * 20],  # too many frames
            [b"\xff\xfe\xe9"],  # not UTF-8
            [b""],
        ]
    ),
)

# --- writes of user code to the kernel's own channels ----------------------------------------------


CONTROL_OPS = ["ready", "results", "input_request", "done", "display", "progress", "ack", "execute", "bogus"]
CONTROL_FIELDS = ["status", "exit_code", "results", "error", "texts", "prompt", "password", "mime", "data"]
CONTROL_FIELDS += ["task", "label", "done", "total", "elapsed", "final", "pid", "python", "ename", "traceback"]
CONTROL_FIELDS += ["evalue", "code", "mode", "text", "eof"]
control_lines = st.one_of(
    st.builds(
        lambda op, fields: json.dumps({"type": op, **fields}).encode() + b"\n",
        st.sampled_from(CONTROL_OPS),
        st.dictionaries(st.sampled_from(CONTROL_FIELDS), json_values, max_size=4),
    ),
    st.sampled_from(
        [
            b'{"type":"done","exit_code":"x"}\n',
            b'{"type":"done","exit_code":null}\n',
            b'{"type":"done","status":"ok","results":[1,{"a":2}],"ename":5}\n',
            Repeat(b'{"type":"results","texts":["', b"x", 3_000_000, b'"]}\n'),  # a result over the header limit
            Repeat(b'{"type":"done","status":"ok","results":["', b"y", 2_000_000, b'"]}\n'),
            Repeat(b"", b"z", 200_000, b""),  # a long line without its end
            b'{"type":"display","mime":"image/png","data":"!!notbase64","ack":true}\n',
            b'{"type":"input_request","prompt":{"a":1}}\n',
            b'{"type":"progress","task":1,"label":2,"done":"x","total":null,"elapsed":"y"}\n',
            b"[1, 2, 3]\n",
            b"\xff\xfe not json\n",
            b"no newline at the end",
        ]
    ),
    st.binary(max_size=64),
)
SIDE_TYPES = ["completions", "inspection", "object_reply", "complete", "bogus"]
side_writes = st.one_of(
    st.builds(
        lambda t, h, p: pack_frames([json.dumps({"type": t, **h}).encode(), *p]),
        st.sampled_from(SIDE_TYPES),
        st.dictionaries(st.sampled_from(["req_id", "ok", "found", "text", "message", "start", "matches"]), json_values),
        st.lists(st.binary(max_size=16), max_size=2),
    ),
    st.sampled_from([b"\x01\xff\xff\xff\xff", b"\x01\x00\x00\x00\x02{]", b"\x01\x00\x00\x00\x02{}" + b"x" * 100]),
    st.binary(max_size=32),
)


def frames_of(event: Event) -> list[bytes]:
    """``event`` as a hostile client would put it on the wire: a JSON header of its fields and a frame per
    ``bytes`` field, whatever the values (our own ``codec.encode`` refuses some; a peer need not use it)."""
    header: dict[str, object] = {"type": re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()}
    binary: list[bytes] = []
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, bytes):
            binary.append(value)
        else:
            header[field.name] = list(value) if isinstance(value, tuple) else value
    return [json.dumps(header).encode(), *binary]


def kernel_write_code(channel: str, chunks: list[bytes | Repeat]) -> str:
    """User code that finds the kernel's control (or side) socket from its command line
    (``main(CONTROL, SIDE)``) and writes ``chunks`` to it, whole."""
    group = 1 if channel == "control" else 2
    items = ", ".join(c.expression() if isinstance(c, Repeat) else repr(c) for c in chunks)
    return (
        "import os as _os, re as _re\n"
        "_m = _re.search(rb'main\\((\\d+), (\\d+)\\)', open('/proc/self/cmdline', 'rb').read())\n"
        f"for _d in [{items}]:\n"
        "    _v = memoryview(_d)\n"
        f"    while _v:\n        _v = _v[_os.write(int(_m.group({group})), _v):]\n"
    )
