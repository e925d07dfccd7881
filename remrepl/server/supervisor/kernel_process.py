"""The supervisor's handle on one kernel process: start it, talk to it, read its output, end it.

Every kernel gets its stdout and stderr pipes and a pseudo-terminal (``os.openpty``; the kernel holds
the slave end). While the attached client has a terminal, the kernel's fds 1 and 2 are that pty's slave
(``UseTerminal``, between runs), sized like the client's window: ``isatty()`` is true, colours and
widths are the client's, and a resize here (``TIOCSWINSZ`` on the master) is a SIGWINCH to the kernel's
foreground process group, since the pty is the kernel's controlling terminal. The pty keeps a real
terminal's output settings (OPOST and ONLCR: a newline leaves it as CR LF), and its bytes reach the
client's terminal unchanged, as stdout: a terminal merges stdout and stderr anyway.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import termios

from ..._files import environment_without_secrets, python_command
from ...protocol.events import Terminal
from ...protocol.kernel_channel import MAX_LINE_BYTES, ToKernel, UseTerminal, encode_line
from ...protocol.side_channel import SideRequest, Unpacker, pack
from .process_tree import kill_tree, protect, signal_tree, unprotect

log = logging.getLogger("remrepl.server")

PIPE_SIZE = 1 << 20
READ_CHUNK = 1 << 16
MAX_COALESCE = 1 << 20  # one Stream event carries at most this much
KILL_WAIT = 5.0  # seconds for a SIGKILLed kernel to be gone


class KernelProcess:
    """A running kernel. ``stdout_fd``, ``stderr_fd``, ``tty_fd`` (the pty's master) and ``control_fd``
    are for the poll loop."""

    def __init__(
        self,
        python: str = sys.executable,
        cwd: str | None = None,
        *,
        fd_limit: int | None = None,
        terminal: Terminal | None = None,
        stdin_pipe: bool = False,
    ) -> None:
        """``fd_limit``: the soft RLIMIT_NOFILE the kernel sets for itself (the supervisor raised its own).
        ``terminal``: the client's terminal (its size, TERM and COLORTERM): the kernel starts on a pty
        like it (``use_terminal``); None or one that is not ``present``: on pipes.
        ``stdin_pipe``: the kernel's fd 0 is a pipe whose write end is ``stdin_fd`` (a script run's
        standard input); otherwise /dev/null."""
        stdin_r, self.stdin_fd = os.pipe() if stdin_pipe else (subprocess.DEVNULL, -1)
        ours, theirs = socket.socketpair()
        side_ours, side_theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for fd in (out_w, err_w):
            try:  # 1 MiB pipes (Linux): fewer wake-ups for print-heavy code
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except (OSError, AttributeError):
                pass
        tty_master, tty_slave = _open_pty()
        env = environment_without_secrets()  # user code runs here: no remrepl secret in its env
        if terminal is not None and terminal.present:  # in the environment from the start, as locally
            env.update(_terminal_env(env, terminal))
        try:
            self.process = subprocess.Popen(
                # The kernel imports itself with a safe path (no user file named like a module of ours can
                # run in it), then gives user code the working directory as ``>>>`` does (kernel/imports.py).
                # The prologue, not -P: user code sees the interpreter flags its own python would have.
                python_command(
                    python,
                    code="from remrepl.server.kernel.main import main; "
                    f"main({theirs.fileno()}, {side_theirs.fileno()}, fd_limit={fd_limit!r}, pty_fd={tty_slave})",
                    allow_flag=False,
                ),
                stdin=stdin_r,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(theirs.fileno(), side_theirs.fileno(), tty_slave),
                cwd=cwd,
                env=env,
                # its own process group and session: a Ctrl-C at the server's terminal is the supervisor's
                # to handle, and the kernel, a session leader, can make the pty its controlling terminal
                start_new_session=True,
            )
        except BaseException:
            for fd in (out_r, err_r, tty_master, self.stdin_fd):
                if fd >= 0:
                    os.close(fd)
            ours.close()
            side_ours.close()
            raise
        finally:
            for fd in (out_w, err_w, tty_slave, stdin_r):
                if fd >= 0:
                    os.close(fd)
            theirs.close()
            side_theirs.close()
        protect(self.process.pid)
        if self.stdin_fd >= 0:
            os.set_blocking(self.stdin_fd, False)
        self.control = ours
        self.control.setblocking(False)
        for fd in (out_r, err_r, tty_master):
            os.set_blocking(fd, False)
        self.stdout_fd, self.stderr_fd, self.tty_fd = out_r, err_r, tty_master
        self.tty_open = True  # some process holds the pty's slave end (``read_tty``)
        self.terminal_mode: tuple[bool, str, str] = (False, "", "")  # what the kernel was last told
        self.size: tuple[int, int] = (0, 0)  # the pty's window size, as last set
        self.control_fd = ours.fileno()
        self.side = side_ours
        self.side.setblocking(False)
        self.side_fd = side_ours.fileno()
        self._side_out = bytearray()  # side requests not yet written (the kernel reads them in its own time)
        self._side_in = Unpacker()
        self._partial = bytearray()  # a control line not complete yet (appended to: a big one is not quadratic)
        self._overlong = False  # the line coming in is over MAX_LINE_BYTES: dropped up to its end
        self.ready = False
        self.use_terminal(terminal)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output_fds(self) -> tuple[int, ...]:
        """The descriptors the poll loop reads output from (the pty's master while it is open)."""
        if self.tty_open:
            return self.tty_fd, self.stdout_fd, self.stderr_fd
        return self.stdout_fd, self.stderr_fd

    def use_terminal(self, terminal: Terminal | None) -> None:
        """Make the kernel's stdout and stderr the pty, sized and named like ``terminal``, or (None, or
        one not ``present``) its pipes again. Only between runs: the kernel reads it in its idle loop
        (before the next ``RunCode``, which follows it on the same socket)."""
        if terminal is not None and terminal.present:
            self.resize(terminal)
            mode = (True, terminal.term, terminal.colorterm)
        else:
            mode = (False, "", "")
        if mode != self.terminal_mode:
            self.terminal_mode = mode
            self.send(UseTerminal(*mode))

    def resize(self, terminal: Terminal) -> None:
        """Give the pty ``terminal``'s size (the kernel's foreground process group gets SIGWINCH)."""
        size = (terminal.rows, terminal.columns)
        if not terminal.present or size == self.size:
            return
        try:
            fcntl.ioctl(self.tty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
            self.size = size
        except OSError as exc:
            log.warning("could not resize the kernel's terminal: %s", exc)

    def send(self, message: ToKernel) -> None:
        data = encode_line(message)
        try:
            try:
                sent = self.control.send(data)  # small messages go at once: no mode switch on the hot path
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                self.control.setblocking(True)  # the kernel always reads its control socket
                try:
                    self.control.sendall(data[sent:])
                finally:
                    self.control.setblocking(False)
        except OSError:
            pass  # it died; the poll loop sees the EOF and reports it

    def read_messages(self) -> list[bytes] | None:
        """Complete control lines waiting now (without their newlines, empty ones left out: every message
        starts with one); None once the kernel has closed the channel. Decoding them is the caller's."""
        try:
            data = self.control.recv(READ_CHUNK if not self._partial else 1 << 20)  # bigger inside a long line
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            return None
        end = data.rfind(b"\n")
        if end < 0:  # the middle of a long line (a big repr): no copy of what came before
            if len(self._partial) + len(data) > MAX_LINE_BYTES:  # no message is this long: user code wrote it
                self._partial.clear()
                self._overlong = True
            elif not self._overlong:
                self._partial += data
            return []
        lines = (bytes(self._partial) + data[:end]).split(b"\n")
        if self._overlong:  # the end of the line that was too long
            lines[0], self._overlong = b"", False
        self._partial = bytearray(data[end + 1 :])
        return [line for line in lines if line]

    def send_side(self, request: SideRequest) -> None:
        """Queue a side request; ``flush_side`` writes it as the socket takes it."""
        self._side_out += pack(request)
        self.flush_side()

    def flush_side(self) -> bool:
        """Write what the socket takes now; True while some is still waiting (poll for POLLOUT)."""
        while self._side_out:
            try:
                sent = self.side.send(self._side_out)
            except BlockingIOError:
                break
            except OSError:
                self._side_out.clear()  # it died; the control channel's EOF reports it
                break
            del self._side_out[:sent]
        return bool(self._side_out)

    def read_side(self) -> list[list[bytes]]:
        """The frames of the complete side replies waiting now (decoding them is the caller's);
        ``ValueError`` if what came is no stream of messages (``side_channel.Unpacker``)."""
        replies = []
        for _ in range(64):  # bounded: a large reply arrives over a few turns of the loop
            try:
                data = self.side.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                break
            if not data:
                break
            replies += self._side_in.feed(data)
        return replies

    @staticmethod
    def read_output(fd: int) -> bytes:
        """What waits in an output pipe now (up to MAX_COALESCE bytes), b"" if nothing."""
        return _read_waiting(fd)[0]

    def read_tty(self) -> tuple[bytes, bool]:
        """What waits on the pty now (as ``read_output``), and whether it is still open. Once no process
        holds its slave end (the kernel closed it: EIO), ``tty_open`` turns False: a hung-up master polls
        ready for ever, so the loop stops watching it."""
        data, ended = _read_waiting(self.tty_fd)
        if ended:
            self.tty_open = False
        return data, not ended

    def close_stdin(self) -> None:
        """The end of the kernel's standard input (EOF on its fd 0)."""
        if self.stdin_fd >= 0:
            try:
                os.close(self.stdin_fd)
            except OSError:
                pass
            self.stdin_fd = -1

    def interrupt(self) -> None:
        try:
            os.kill(self.process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def wait_status(self, timeout: float = 5.0) -> str:
        """Wait for the process to end; describe how it ended, in words."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}"
        return f"exit status {code}"

    def exit_code(self) -> int:
        """Shell-style exit code of the ended process (128+N for signal N)."""
        code = self.process.returncode or 0
        return 128 - code if code < 0 else code

    def close(self, timeout: float = 2.0, *, force: bool = False) -> None:
        """End the kernel and every process it started (SIGTERM, then SIGKILL after ``timeout``; with
        ``force`` SIGKILL at once), and release every descriptor. A kernel that died already still has
        its children ended: they are not left running behind a new interpreter."""
        pgid = self.process.pid  # the kernel leads its own process group (start_new_session)
        if not force and self.process.poll() is None:
            signal_tree(pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        signal_tree(pgid, signal.SIGKILL)
        try:
            self.process.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:  # stuck in the kernel (D state): reaped by a later sweep
            log.warning("kernel pid %d did not die within %g s of SIGKILL", pgid, KILL_WAIT)
        kill_tree(pgid, spare=() if self.process.returncode is not None else (pgid,))
        unprotect(pgid)
        self.close_stdin()
        self.control.close()
        self.side.close()
        for fd in (self.tty_fd, self.stdout_fd, self.stderr_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _read_waiting(fd: int) -> tuple[bytes, bool]:
    """What waits in ``fd`` now (up to MAX_COALESCE bytes), and whether it has ended (EOF, or EIO: a
    pty's master whose slave nobody holds)."""
    chunks: list[bytes] = []
    size = 0
    ended = False
    while size < MAX_COALESCE:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:  # nothing more waits
            break
        except OSError:
            ended = True
            break
        if not chunk:
            ended = True
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), ended


def _open_pty() -> tuple[int, int]:
    """A new pseudo-terminal (master, slave) with a real terminal's output settings, chosen here rather
    than inherited: OPOST and ONLCR on (``\n`` leaves as ``\r\n``, so the client writes the bytes to
    its terminal unchanged and a progress bar's ``\r`` works as locally)."""
    master, slave = os.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] |= termios.OPOST | termios.ONLCR  # oflag
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    except termios.error:  # a pty without termios settings still carries the bytes
        pass
    os.set_inheritable(master, False)
    return master, slave


def _terminal_env(env: dict[str, str], terminal: Terminal) -> dict[str, str]:
    """TERM and COLORTERM as the client has them (an empty one left out)."""
    env.pop("COLORTERM", None)
    return {name: value for name, value in (("TERM", terminal.term), ("COLORTERM", terminal.colorterm)) if value}
