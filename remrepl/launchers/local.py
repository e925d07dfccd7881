"""The local launcher: a server as a child process of this machine (``remrepl connect --launch``)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from .._exceptions import LaunchError, RemreplError
from .._files import environment_without_secrets, open_private_log, python_command, state_dir
from ..transport import KeyPair
from ..transport.connection_info import ConnectionInfo
from .base import Launcher


class LocalLauncher(Launcher):
    target = "local"

    def __init__(
        self,
        *,
        python: str = sys.executable,
        bind: str = "127.0.0.1",
        idle_timeout: float | None = None,
        cwd: str | None = None,
    ) -> None:
        self.python = python
        self.bind = bind
        self.idle_timeout = idle_timeout
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self, timeout: float = 30.0) -> ConnectionInfo:
        if self.process is not None:
            raise RuntimeError("this launcher has already started its server")
        keys = KeyPair.generate()
        self.log_path = state_dir("logs") / f"local-{os.getpid()}-{time.time_ns()}.log"
        log_fd = open_private_log(self.log_path)
        # --tether: the server stops if this process dies without detach() (a crash, a closed terminal).
        args = ["--client-key-stdin", "--tether", "--bind", self.bind]
        if self.idle_timeout is not None:
            args += ["--idle-timeout", str(self.idle_timeout)]
        # A safe import path: a user's random.py in the working directory (ours: the server's) is not ours.
        cmd = python_command(self.python, module="remrepl.server", args=args)
        try:
            self.process = subprocess.Popen(
                cmd,
                env=environment_without_secrets(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fd,
                cwd=self.cwd,
                start_new_session=True,  # survives the client's Ctrl-C, and the client with --keep
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {self.python}: {exc.strerror}") from None
        finally:
            os.close(log_fd)
        try:
            assert self.process.stdin is not None
            # The client key goes over a pipe: never argv (world-readable in /proc), never the environment.
            self.process.stdin.write(keys.public + b"\n")
            self.process.stdin.flush()  # stdin stays open: it is the tether
            ready = self._read_ready_line(timeout)
            self.info = ConnectionInfo.from_json(ready, "the server's ready line")
        except BaseException as exc:
            tail = self._log_tail()
            self.close()
            if isinstance(exc, RemreplError | OSError):
                raise LaunchError(f"the local server did not start: {exc}{tail}") from None
            raise
        self.info = replace(self.info, client_secret_key=keys.secret)
        return self.info

    def _read_ready_line(self, timeout: float) -> dict[str, object]:
        assert self.process is not None and self.process.stdout is not None
        out = self.process.stdout
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LaunchError(f"no ready line within {timeout:g} s")
            if select.select([out], [], [], remaining)[0]:
                chunk = os.read(out.fileno(), 4096)
                if not chunk:
                    raise LaunchError(f"the server exited with status {self.process.wait()}")
                buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        try:
            data = json.loads(line)
        except ValueError:
            raise LaunchError(f"the server printed {line[:200]!r} instead of its ready line") from None
        if not isinstance(data, dict) or data.get("event") != "ready":
            raise LaunchError(f"the server printed {line[:200]!r} instead of its ready line")
        return data

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return ""
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log (" + str(self.log_path) + "):\n" + "\n".join(tail) if tail else ""

    def wait(self, timeout: float | None = None) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its log."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            if self.wait(5.0) is None:
                process.kill()
                process.wait()
        self._close_pipes(process)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def detach(self) -> None:
        """Leave the server running on its own (``--keep``); its log stays for the user."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None and process.poll() is None:
            try:
                process.stdin.write(b"detach\n")  # untether it before our end of its stdin closes
                process.stdin.flush()
            except OSError:
                pass
        self._close_pipes(process)

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
