"""The supervisor's handle on one kernel process: start it, talk to it, read its output, end it."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys

from ..._files import environment_without_secrets, python_command
from ...protocol.kernel_channel import MAX_LINE_BYTES, ToKernel, encode_line
from ...protocol.side_channel import SideRequest, Unpacker, pack
from .process_tree import kill_tree, protect, signal_tree, unprotect

log = logging.getLogger("remrepl.server")

PIPE_SIZE = 1 << 20
READ_CHUNK = 1 << 16
MAX_COALESCE = 1 << 20  # one Stream event carries at most this much
KILL_WAIT = 5.0  # seconds for a SIGKILLed kernel to be gone


class KernelProcess:
    """A running kernel. ``stdout_fd``, ``stderr_fd`` and ``control_fd`` are for the poll loop."""

    def __init__(
        self,
        python: str = sys.executable,
        cwd: str | None = None,
        *,
        fd_limit: int | None = None,
        stdin_pipe: bool = False,
    ) -> None:
        """``fd_limit``: the soft RLIMIT_NOFILE the kernel sets for itself (the supervisor raised its own).
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
        try:
            self.process = subprocess.Popen(
                # The kernel imports itself with a safe path (no user file named like a module of ours can
                # run in it), then gives user code the working directory as ``>>>`` does (kernel/imports.py).
                # The prologue, not -P: user code sees the interpreter flags its own python would have.
                python_command(
                    python,
                    code="from remrepl.server.kernel.main import main; "
                    f"main({theirs.fileno()}, {side_theirs.fileno()}, fd_limit={fd_limit!r})",
                    allow_flag=False,
                ),
                stdin=stdin_r,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(theirs.fileno(), side_theirs.fileno()),
                cwd=cwd,
                env=environment_without_secrets(),  # user code runs here: no remrepl secret in its env
                # its own process group: a Ctrl-C at the server's terminal is the supervisor's to handle
                start_new_session=True,
            )
        except BaseException:
            for fd in (out_r, err_r, self.stdin_fd):
                if fd >= 0:
                    os.close(fd)
            ours.close()
            side_ours.close()
            raise
        finally:
            for fd in (out_w, err_w, stdin_r):
                if fd >= 0:
                    os.close(fd)
            theirs.close()
            side_theirs.close()
        protect(self.process.pid)
        if self.stdin_fd >= 0:
            os.set_blocking(self.stdin_fd, False)
        self.control = ours
        self.control.setblocking(False)
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.stdout_fd, self.stderr_fd = out_r, err_r
        self.control_fd = ours.fileno()
        self.side = side_ours
        self.side.setblocking(False)
        self.side_fd = side_ours.fileno()
        self._side_out = bytearray()  # side requests not yet written (the kernel reads them in its own time)
        self._side_in = Unpacker()
        self._partial = bytearray()  # a control line not complete yet (appended to: a big one is not quadratic)
        self._overlong = False  # the line coming in is over MAX_LINE_BYTES: dropped up to its end
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

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
        chunks: list[bytes] = []
        size = 0
        while size < MAX_COALESCE:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:  # BlockingIOError included: nothing more waits
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

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
        for fd in (self.stdout_fd, self.stderr_fd):
            try:
                os.close(fd)
            except OSError:
                pass
