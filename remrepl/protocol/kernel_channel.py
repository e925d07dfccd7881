"""The supervisor <-> kernel control channel: its messages, and their lines.

Internal to the server (the client never sees these), on a socket pair between the supervisor and the
kernel process it started. One message a line, the codec's JSON header of it, and every line *starts*
with a newline as well as ending with one: user code can write to the socket (it is an fd of the
kernel's process), and half a line from it then becomes a line of its own, which fails to decode and is
dropped, instead of swallowing the message after it.

    supervisor -> kernel   RunCode, InputText, Ack (answers Results and a main-thread ShowDisplay),
                           UseTerminal (between runs);
                           RunScript (the first and only run of a one-off kernel: ``python FILE``)
    kernel -> supervisor   KernelReady, Results, AskInput, RunDone, ShowDisplay, ReportProgress

The kernel runs anybody's code, so the supervisor's decoder is ``strict`` (``message_codec``): a
malformed, oversized or unknown line is a ``RemoteProtocolError``, which the supervisor logs and drops.
Stdlib only (with ``message_codec``): the kernel imports this at start. The messages are ``NamedTuple``
classes, not dataclasses: as typed and as immutable, and the kernel's start does not pay for importing
``dataclasses`` (and ``inspect``) and generating nine frozen dataclasses (~20 ms of CPU here). Dispatch
on them by ``isinstance``, never by ``==``: a NamedTuple equals any tuple of the same values.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from .message_codec import Codec

# A control line is at most this long. Big results travel here (a repr of any size goes as one
# message, and the supervisor sends it on as stdout in pieces), so the bound is far above the client
# protocol's header; it only keeps a line without an end from filling the supervisor's memory.
MAX_LINE_BYTES = 1 << 30
RunStatus = Literal["ok", "error", "interrupted", "exit"]
Mode = Literal["interactive", "script"]


# --- supervisor -> kernel -----------------------------------------------------------------------


class RunCode(NamedTuple):
    """Run ``code`` (the client's ``Execute``); the kernel answers, in the end, with ``RunDone``."""

    code: str
    mode: Mode = "interactive"
    filename: str = "<remote>"
    argv: tuple[str, ...] = ()


class RunScript(NamedTuple):
    """Be ``python FILE``: run ``code`` as the script ``path`` (absolute, on this machine) in this fresh
    interpreter, with ``sys.argv == argv`` and ``sys.path[0] == path0``; end as python ends (threads
    joined, atexit handlers run), answer ``RunDone``, and exit. ``stdin``: fd 0 carries the client's
    standard input; otherwise reading stdin asks the client for lines (``AskInput``)."""

    code: str
    path: str
    argv: tuple[str, ...]
    path0: str
    stdin: bool = False


class InputText(NamedTuple):
    """What the user typed for an ``AskInput`` (``eof``: they ended the input instead)."""

    text: str = ""
    eof: bool = False


class Ack(NamedTuple):
    """The supervisor has turned the ``Results`` or ``ShowDisplay`` into events: the kernel may go on."""


class UseTerminal(NamedTuple):
    """Between runs: make fds 1 and 2 the pseudo-terminal the kernel was given (``on``, with these
    ``TERM``/``COLORTERM``, "" for unset) or its pipes again (not ``on``). Never answered."""

    on: bool
    term: str = ""
    colorterm: str = ""


# --- kernel -> supervisor -----------------------------------------------------------------------


class KernelReady(NamedTuple):
    """The kernel has started and waits for code."""

    pid: int = 0
    python: str = ""


class Results(NamedTuple):
    """Expressions' reprs, as the REPL echoes them, sent before more output of the run (then Ack)."""

    texts: tuple[str, ...]


class AskInput(NamedTuple):
    """The running code reads input (``input()``, ``getpass``); answered by ``InputText``."""

    prompt: str = ""
    password: bool = False


class RunDone(NamedTuple):
    """The run ended. ``results``: reprs held back until now (a single message for ``1+1``); ``ename``
    (not None when it raised), ``evalue``, ``traceback``: the exception it ended with."""

    status: RunStatus
    exit_code: int = 0
    results: tuple[str, ...] = ()
    ename: str | None = None
    evalue: str = ""
    traceback: str = ""


class ShowDisplay(NamedTuple):
    """Rich output (a plot), base64 in ``data``; ``ack``: the kernel waits for an ``Ack``."""

    mime: str
    data: str
    ack: bool = False


class ReportProgress(NamedTuple):
    """A progress update of the running code (``remrepl.cluster``'s map)."""

    task: str
    label: str
    done: int
    total: int
    elapsed: float
    final: bool = False


ToKernel = RunCode | InputText | Ack | UseTerminal | RunScript
FromKernel = KernelReady | Results | AskInput | RunDone | ShowDisplay | ReportProgress
ControlMessage = ToKernel | FromKernel

CONTROL: Codec[ControlMessage] = Codec(
    {
        "execute": RunCode,
        "input_reply": InputText,
        "ack": Ack,
        "ready": KernelReady,
        "results": Results,
        "input_request": AskInput,
        "done": RunDone,
        "display": ShowDisplay,
        "progress": ReportProgress,
        "use_terminal": UseTerminal,
        "script": RunScript,
    },
    max_header=MAX_LINE_BYTES,
    strict=True,
)


def encode_line(message: ControlMessage) -> bytes:
    """``message`` as a control line, leading newline included; ``LocalProtocolError`` if malformed."""
    return b"\n" + CONTROL.encode(message)[0] + b"\n"


def decode_line(line: bytes) -> ControlMessage:
    """The message of one line (without its newline); ``RemoteProtocolError`` otherwise."""
    return CONTROL.decode((line,))
