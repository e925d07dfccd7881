"""The protocol's events: small frozen dataclasses, one per message type.

Client → server: Hello, Execute, Interrupt, InputReply, Detach, Shutdown, Restart, Ack, Terminal.
Server → client: Welcome, Stream, Result, Error, InputRequest, Done, Notice, Progress, Rejected, Bye, Display.

Side requests (``side.py``): Complete, Inspect, GetObject, PutObject, CompletePath, answered by Completions,
Inspection and ObjectReply. A client usually sends them over a second connection opened with ``Hello(side=True)``,
which the server serves alongside the attached client without taking the session over; the kernel
answers them from a thread of its own, so they are answered while a run keeps its main thread busy.

File transfers (``transfers.py``): Upload, Download, UploadChunk, UploadEnd, DownloadAck, CancelTransfer
from the client; TransferReady, DownloadChunk, UploadAck, TransferDone, TransferFailed from the server.

Server events that belong to the session's output (everything a user would see) carry ``seq``, a number
that grows by one per event over the server's life. The server keeps recent ones in a replay buffer; a
client acknowledges what it has seen (``Ack`` as it goes, when the server's ``Welcome.acks`` says it takes
it; ``Execute.ack``, ``Detach.ack``) and asks for the rest when it attaches (``Hello.resume_from``), so
output produced while no client listened is not lost, and output a client saw is not shown again.

Fields typed ``bytes`` travel as separate binary frames after the JSON header (see ``codec``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .side import (
    SIDE_CLIENT_EVENTS,
    SIDE_SERVER_EVENTS,
    Complete,
    CompletePath,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
    PutObject,
)
from .transfers import (
    TRANSFER_CLIENT_EVENTS,
    TRANSFER_SERVER_EVENTS,
    TransferClientEvent,
    TransferServerEvent,
)

PROTOCOL_VERSION = 5  # 2: side requests, restart, file transfers, Display and Progress events; 3: the keeper
# and reaper moved (remrepl.launchers.ssh.keeper, python -m remrepl.reaper): their module paths are on remote
# command lines, so an older remrepl on a host is reinstalled, not half-used; 4: script connections
# (Hello.script, Execute.origin/stdin, StdinData, StdinAck): each exec runs in a fresh interpreter; 5: workdir
# sync (Sync, SyncReady, SyncEnd), and file transfers on script connections

ExecMode = Literal["interactive", "script"]
StreamName = Literal["stdout", "stderr"]
# How a run ended. "exit": the code raised SystemExit; "died": the interpreter process died under it, or a
# forced Restart killed it (a new status would break older clients of this protocol version).
DoneStatus = Literal["ok", "error", "interrupted", "exit", "died"]
# "internal": handling the request failed on the server (a bug); the session is intact.
RejectCode = Literal["busy", "protocol", "version", "duplicate", "internal"]


# --- client -> server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """First message of every connection. ``resume_from``: replay output after this seq (None: unseen)."""

    protocol: int = PROTOCOL_VERSION
    resume_from: int | None = None
    side: bool = False  # a side connection (completion, help, objects): not an attachment, no output
    # a script connection (``remrepl exec``): not an attachment either; each of its runs gets a fresh
    # interpreter of its own, and its output goes to this connection only (no replay)
    script: bool = False


@dataclass(frozen=True)
class Execute:
    """Run ``code``. ``interactive``: like the standard REPL (expressions echo); ``script``: as ``__main__``."""

    req_id: str
    code: str
    mode: ExecMode = "interactive"
    filename: str = "<remote>"
    argv: tuple[str, ...] = ()
    ack: int = 0  # the highest seq this client has seen (lets the server trim what it would replay)
    # Script connections only: ``origin`` is the script's absolute path on the client's machine (the server
    # runs that very file, in the client's working directory ``cwd``, when it holds the same file there);
    # ``stdin``: the client streams its standard input (StdinData) to the script's fd 0; otherwise the
    # script's reads of stdin ask for lines (InputRequest).
    origin: str = ""
    cwd: str = ""
    stdin: bool = False


@dataclass(frozen=True)
class Interrupt:
    """Raise KeyboardInterrupt in the running code (as Ctrl-C does locally). Harmless when idle."""

    req_id: str = ""


@dataclass(frozen=True)
class InputReply:
    """The answer to the InputRequest numbered ``seq``; ``eof`` makes ``input()`` raise EOFError."""

    req_id: str
    seq: int
    text: str = ""
    eof: bool = False


@dataclass(frozen=True)
class Detach:
    """The client leaves; the session (namespace, running code) stays on the server."""

    ack: int = 0


@dataclass(frozen=True)
class Shutdown:
    """Stop the server (its interpreter and namespace go with it)."""


@dataclass(frozen=True)
class Restart:
    """Replace the remote interpreter by a fresh one (the namespace goes); ends with Done(req_id).

    ``force``: also while a run is in progress (code that ignores Ctrl-C or is stuck in C): the interpreter
    and its process tree are killed, and that run ends with Done(status="died"). Without it, a Restart
    is refused while a run goes on."""

    req_id: str
    force: bool = False


@dataclass(frozen=True)
class Ack:
    """The client has seen the output up to ``seq``: a later attachment is not replayed it. Sent as the
    client goes (when it waits for more), only to a server whose ``Welcome.acks`` is true."""

    seq: int


MAX_TERMINAL_SIDE = 10_000  # rows or columns of a terminal: far above any screen, well inside a winsize
_TERMINAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")  # a TERM or COLORTERM value


@dataclass(frozen=True)
class Terminal:
    """The client's output is a terminal of ``rows`` x ``columns`` with ``TERM``/``COLORTERM`` ``term`` and
    ``colorterm`` ("" if unset); ``rows == columns == 0``: it has none (pipes, files). Sent after the
    Welcome, again whenever the local window is resized, and only to a server whose ``Welcome.terminals``
    is true. The remote code's stdout and stderr are a pseudo-terminal of that size while the attached
    client has one (decided when each run starts); otherwise pipes."""

    rows: int = 0
    columns: int = 0
    term: str = ""
    colorterm: str = ""

    def __post_init__(self) -> None:
        # They become a window size and environment variables of the user's processes: small and plain.
        if (self.rows == 0) != (self.columns == 0):
            raise ValueError("a terminal has both rows and columns, or neither")
        if not (0 <= self.rows <= MAX_TERMINAL_SIDE and 0 <= self.columns <= MAX_TERMINAL_SIDE):
            raise ValueError(f"a terminal of {self.rows}x{self.columns} is out of range")
        for name, value in (("term", self.term), ("colorterm", self.colorterm)):
            if value and not _TERMINAL_NAME.fullmatch(value):
                raise ValueError(f"{name} {value[:80]!r} is not a terminal name")

    @property
    def present(self) -> bool:
        return self.rows > 0


@dataclass(frozen=True)
class StdinData:
    """The next bytes of a script run's standard input (at most ``STDIN_CHUNK``); ``eof``: no more follow.
    The client keeps at most ``STDIN_WINDOW`` bytes beyond what the server acknowledged (``StdinAck``)."""

    req_id: str
    data: bytes = b""
    eof: bool = False


# --- server -> client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Welcome:
    """Reply to Hello. ``running``: the req_id of a run still going on (its output follows), or ""."""

    protocol: int
    server_pid: int
    hostname: str
    python: str
    started_at: float
    running: str = ""
    last_seq: int = 0
    replay: int = 0  # how many replayed output events follow this Welcome
    acks: bool = False  # the server takes Ack events (older servers of this protocol version refuse them)
    terminals: bool = False  # the server takes Terminal events (a pty for a client that has a terminal)
    # the server takes file transfers (Download, Upload, ...) on a script connection, relative paths from
    # its run's working directory (Done.cwd): ``remrepl exec --get`` (older servers of this version refuse them)
    script_transfers: bool = False
    # the versions of the server's interpreter that must agree with the client's for by-value pickles
    # (``protocol/versions.py``: remrepl, cloudpickle; "" when not installed; {} from older servers)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    """Bytes the running code wrote to its stdout or stderr (Python-level, C-level or a subprocess)."""

    seq: int
    req_id: str
    name: StreamName
    data: bytes


@dataclass(frozen=True)
class Result:
    """The repr of an expression evaluated at the prompt (what the standard REPL echoes).

    ``more``: the reprs echoed after it, in order: a run that echoes many (``for i in range(10**6): i``)
    sends them in batches, as Done's ``results`` carries the last ones; the client's API yields each as
    a Result event of its own.
    """

    seq: int
    req_id: str
    text: str
    more: tuple[str, ...] = ()


@dataclass(frozen=True)
class Error:
    """An exception escaped the user's code; ``traceback`` shows only the user's frames."""

    seq: int
    req_id: str
    ename: str
    evalue: str
    traceback: str


@dataclass(frozen=True)
class InputRequest:
    """The running code called ``input()`` (or ``getpass`` with ``password``); answer with InputReply."""

    seq: int
    req_id: str
    prompt: str
    password: bool = False


@dataclass(frozen=True)
class Done:
    """The run ``req_id`` is over. ``exit_code``: what a script run would exit with.

    ``results``: reprs of expressions evaluated last in the run, not yet sent as Result events. They ride
    here to save a message per ``1+1``; the client shows them (and its API yields them as Result events)
    before the Done.

    ``cwd``: a script run's working directory on the server (where its ``python FILE`` started), the base of
    the relative paths of its results (``remrepl exec --get``); "" for other runs and from older servers.
    """

    seq: int
    req_id: str
    status: DoneStatus
    exit_code: int = 0
    results: tuple[str, ...] = ()
    cwd: str = ""


@dataclass(frozen=True)
class Notice:
    """Something the user should read that is not output of their code (e.g. the interpreter died)."""

    seq: int
    text: str


@dataclass(frozen=True)
class Progress:
    """How far a long operation of the running code has got (a cluster ``map``): ``done`` of ``total``
    after ``elapsed`` seconds. ``task`` tells concurrent operations apart; ``final`` says it is over
    (finished, failed or interrupted) and the client removes what it drew. Throttled by the sender."""

    seq: int
    req_id: str
    task: str
    label: str
    done: int
    total: int
    elapsed: float
    final: bool = False


@dataclass(frozen=True)
class Rejected:
    """The server refused a request; the session goes on (except for "version")."""

    req_id: str
    code: RejectCode
    message: str


@dataclass(frozen=True)
class Bye:
    """The server ends this client's attachment: it is shutting down, or another client attached."""

    reason: str


@dataclass(frozen=True)
class Display:
    """Rich output of the running code that is not text, e.g. a matplotlib figure as ``image/png``."""

    seq: int
    req_id: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class StdinAck:
    """``received`` bytes of the run's standard input are in the script's pipe; ``closed``: the script
    closed its stdin (or ended): send no more."""

    req_id: str
    received: int
    closed: bool = False


STDIN_CHUNK = 1 << 16  # bytes in one StdinData
STDIN_WINDOW = 1 << 20  # bytes a client may send beyond the last StdinAck

SideClientEvent = Complete | Inspect | GetObject | PutObject | CompletePath
SideServerEvent = Completions | Inspection | ObjectReply
ClientEvent = (
    Hello
    | Execute
    | Interrupt
    | InputReply
    | Detach
    | Shutdown
    | Restart
    | Ack
    | SideClientEvent
    | TransferClientEvent
    | Terminal
    | StdinData
)
ServerEvent = (
    Welcome
    | Stream
    | Result
    | Error
    | InputRequest
    | Done
    | Notice
    | Progress
    | Rejected
    | Bye
    | Display
    | SideServerEvent
    | TransferServerEvent
    | StdinAck
)
Event = ClientEvent | ServerEvent
# Events that are session output: numbered, kept for replay.
OutputEvent = Stream | Result | Error | InputRequest | Done | Notice | Progress | Display

CLIENT_EVENTS: tuple[type, ...] = (
    Hello,
    Execute,
    Interrupt,
    InputReply,
    Detach,
    Shutdown,
    Restart,
    Ack,
    *SIDE_CLIENT_EVENTS,
    *TRANSFER_CLIENT_EVENTS,
    Terminal,
    StdinData,
)
SERVER_EVENTS: tuple[type, ...] = (
    Welcome,
    Stream,
    Result,
    Error,
    InputRequest,
    Done,
    Notice,
    Progress,
    Rejected,
    Bye,
    Display,
    *SIDE_SERVER_EVENTS,
    *TRANSFER_SERVER_EVENTS,
    StdinAck,
)
OUTPUT_EVENTS = (Stream, Result, Error, InputRequest, Done, Notice, Progress, Display)
