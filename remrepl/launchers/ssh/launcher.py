"""The SSH launcher: a server on any SSH host, reached through a tunnel over the same SSH connection.

    with remrepl.launch("ssh://me@host") as server, server.connect() as session:
        session.run("import socket; socket.gethostname()")

Steps: connect (``sshlink``: ssh_config, verified host keys, keys and agent); one SSH channel runs the
remote Python with a small check (Python 3.10+, remrepl importable, same protocol version: exact errors
otherwise, and ``--bootstrap`` installs this remrepl into a venv there) that goes on to
``remrepl.launchers.ssh.keeper start``. The client key (a CURVE public key) goes over the channel's stdin,
the ready line comes back over its stdout, so the server key is pinned through the host-key-verified
link. The channel stays open as the server's tether (see ``server/ssh_keeper.py``: ``stop``, ``detach``, and a grace
period for a dropped link). The client reaches the server through a local port forward (``tunnel.py``),
or straight at its port with ``direct=True``.

A dropped link: ``relink()`` makes a new SSH connection, re-attaches the tether and points the tunnel (same
local port) at the new connection; ``client/reconnect.py`` drives it and reattaches the session.
"""

from __future__ import annotations

import base64
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..._exceptions import ConfigError, LaunchError, RemoteEnvironmentError, RemoteProtocolError, ServerGone
from ..._files import python_words
from ...client.session import InputHandler, Session, terminal_input
from ...protocol import PROTOCOL_VERSION
from ...protocol.keeper import Attached, Detach, KeeperFailed, KeeperReady, Stop, decode_line, decode_word, encode_word
from ...ssh.bootstrap import DEFAULT_VENV, bootstrap, shell_path, venv_python
from ...ssh.config import PassphraseHandler, SSHOptions, SSHTarget, terminal_passphrase
from ...ssh.errors import is_ssh_failure, ssh_errors
from ...ssh.link import SSHLink, connect_ssh
from ...ssh.remote import open_session
from ...ssh.tunnel import Tunnel
from ...transport import KeyPair
from ...transport.connection_info import ConnectionInfo
from ..base import Launcher
from .watchdog import LinkWatchdog

# What --bootstrap installs besides remrepl: Dask, so the server's session can start workers (remrepl.cluster),
# as on an EC2 head (about 10 s more on the first install, 45 MB; docs/ssh.md)
BOOTSTRAP_EXTRAS = ("cluster",)
DEFAULT_GRACE = 60.0  # s a tethered server waits for its launcher after the link dropped

# Runs on the remote with its Python: stable across remrepl versions (it only reads PROTOCOL_VERSION),
# so an old or new remrepl there is reported, not misread. Not secret: it is on the remote's command line.
CHECK = """import sys
if sys.version_info < (3, 10):
    print("remrepl-check old-python", sys.version.split()[0], flush=True); sys.exit(3)
try:
    import remrepl, remrepl.protocol
except ImportError:
    print("remrepl-check no-remrepl", sys.executable, flush=True); sys.exit(3)
v = remrepl.protocol.PROTOCOL_VERSION
ok = v == int(sys.argv[1])
print("remrepl-check", "ok" if ok else "version", v, getattr(remrepl, "__version__", "?"), flush=True)
if not ok:
    sys.exit(3)
from remrepl.launchers.ssh.keeper import main
sys.exit(main(sys.argv[2:]))
"""


def _local_version() -> str:
    from ...ssh.known_pythons import this_version

    return this_version()


def _stderr(text: str) -> None:
    print(f"remrepl: {text}", file=sys.stderr)


class SSHLauncher(Launcher):
    def __init__(
        self,
        target: str,
        *,
        ssh_config: str | None = None,
        accept_new_host_key: bool = False,
        remote_python: str | None = None,
        bootstrap: bool = False,
        remote_venv: str = DEFAULT_VENV,
        direct: bool = False,
        idle_timeout: float | None = None,
        connect_timeout: float | None = None,
        reconnect_grace: float = DEFAULT_GRACE,
        passphrase: PassphraseHandler = terminal_passphrase,
        notify: Callable[[str], None] = _stderr,
        host_key_alias: str | None = None,
        known_hosts_file: str | None = None,
        expected_host_keys: Sequence[str] = (),
        identity_files: Sequence[str] = (),
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """``host_key_alias``, ``known_hosts_file``, ``expected_host_keys`` and ``identity_files``: see
        ``SSHOptions`` (the EC2 launcher's). ``environment``: NON-secret variables for the server (and so
        the kernel), set on the remote command line with ``env``, which anyone on the host can read.
        ``remote_python``: the host's interpreter (with ``bootstrap``: the one the venv is made with);
        None: the one an earlier ``bootstrap`` to this host installed into (``ssh/known_pythons.py``),
        else ``python3``."""
        self.ssh_target = SSHTarget.parse(target.removeprefix("ssh://"))
        self.target = str(self.ssh_target)
        self.options = SSHOptions(
            ssh_config=ssh_config,
            accept_new_host_key=accept_new_host_key,
            connect_timeout=connect_timeout,
            passphrase=passphrase,
            notify=notify,
            host_key_alias=host_key_alias,
            known_hosts_file=known_hosts_file,
            expected_host_keys=tuple(expected_host_keys),
            identity_files=tuple(identity_files),
        )
        self.environment = dict(environment or {})
        self.explicit_python = remote_python is not None
        self.remote_python = remote_python or "python3"
        self.bootstrap = bootstrap
        self.remote_venv = remote_venv
        self.direct = direct
        self.idle_timeout = idle_timeout
        self.reconnect_grace = reconnect_grace
        self.notify = notify
        self.link: SSHLink | None = None
        self.channel: Any = None  # the tether: the keeper's stdin and stdout
        self.tunnel: Tunnel | None = None
        self.python = venv_python(remote_venv) if bootstrap else self.remote_python
        self.remembered = False  # self.python is what an earlier --bootstrap installed into (known_pythons)
        self.remote_version: str | None = None  # the host's remrepl version, from the check
        self.ready: KeeperReady | None = None  # the keeper's ready line
        self._detached = False
        self._exit_status: int | None = None
        self._relink_lock = threading.Lock()
        self._watchdog: LinkWatchdog | None = None

    # --- starting -----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0, *, link: SSHLink | None = None) -> ConnectionInfo:
        """``link``: an SSH connection to the target made already (it becomes this launcher's)."""
        if self.link is not None:
            raise RuntimeError("this launcher has already started its server")
        keys = KeyPair.generate()
        self.link = link or connect_ssh(self.ssh_target, self.options)
        try:
            if self.direct and len(self.link.transports) > 1:
                raise ConfigError("--direct cannot reach a server behind ProxyJump hops; leave it out to tunnel")
            if self.bootstrap:
                # Every --bootstrap makes the venv hold this very remrepl: nothing to do when its stamp
                # says it does (one round trip), a reinstall when the code changed, protocol or not.
                bootstrap(
                    self.link,
                    self.remote_python,
                    self.remote_venv,
                    extras=BOOTSTRAP_EXTRAS,
                    announce=self._announce_install,
                )
            elif not self.explicit_python:
                self._recall(self.link)
            self.ready = self._start_server(keys, timeout)
            if self.bootstrap:
                self._remember(self.link)
            info = ConnectionInfo.from_json(self.ready.connection(), f"the ready line from {self.link}")
            if self.direct:
                info = replace(info, host=self.link.settings.hostname)
            else:
                self.tunnel = Tunnel(self.link.transport, (info.host, info.port))
                info = replace(info, host="127.0.0.1", port=self.tunnel.port)
        except BaseException:
            self.close()
            raise
        self.info = replace(info, client_secret_key=keys.secret)
        self._watchdog = LinkWatchdog(lambda: self.link is not None and self.link.active, self.relink, self.notify)
        return self.info

    def _announce_install(self) -> None:
        self.notify(f"installing remrepl into {self.remote_venv} on {self.link} (--bootstrap)")

    def _recall(self, link: SSHLink) -> None:
        from ...ssh.known_pythons import recall

        python = recall(str(link))
        if python is not None:
            self.python, self.remembered = python, True

    def _remember(self, link: SSHLink) -> None:
        from ...ssh.known_pythons import remember

        try:
            remember(str(link), self.python, self.remote_venv, self.remote_version or "?")
        except OSError as exc:  # only a convenience: the launch itself went well
            self.notify(f"could not remember {self.python} for {link} ({exc}); name it with --remote-python")

    def _command(self, *args: str) -> str:
        # One line without newlines or shell metacharacters: the login shell may be bash, zsh, csh or fish.
        # The safe-path prologue first: the login's directory (the home) may hold a user's base64.py.
        check = f"import base64; exec(base64.b64decode('{base64.b64encode(CHECK.encode()).decode()}'))"
        env = f"env {shlex.join(f'{k}={v}' for k, v in self.environment.items())} " if self.environment else ""
        words = shlex.join([*python_words(code=check), str(PROTOCOL_VERSION), *args])
        return f"exec {env}{shell_path(self.python)} {words}"

    def _start_server(self, keys: KeyPair, timeout: float) -> KeeperReady:
        assert self.link is not None
        args = ["start", "--grace", str(self.reconnect_grace)]
        if self.direct:
            args.append("--direct")
        if self.idle_timeout is not None:
            args += ["--idle-timeout", str(self.idle_timeout)]
        if self.channel is not None:  # a first attempt before --bootstrap
            self.channel.close()
        channel = self.channel = open_session(self.link)
        reader = _LineReader(channel, time.monotonic() + timeout, self.link)
        with ssh_errors(f"cannot start the remote command on {self.link}"):
            channel.exec_command(self._command(*args))
            # The client key over the channel: never argv, the environment or a file on the remote.
            channel.sendall(keys.public + b"\n")
        line = reader.line("the environment check")
        for _ in range(100):  # a login script may print before our command runs: skip its lines
            if line is None or line.startswith("remrepl-check "):
                break
            line = reader.line("the environment check")
        self._check(line, reader)
        line = reader.line("the server's ready line")
        if line is None:
            raise LaunchError(f"the remote launcher on {self.link} ended without a ready line{reader.stderr()}")
        try:
            said = decode_line(line)
        except RemoteProtocolError:
            raise LaunchError(f"the remote launcher printed {line[:200]!r} instead of a ready line") from None
        if isinstance(said, KeeperFailed):
            raise LaunchError(
                f"the server did not start on {self.link} (exit status {said.status}); its stderr "
                f"({said.log}):\n{said.stderr}"
            )
        return said

    def _check(self, line: str | None, reader: _LineReader) -> None:
        assert self.link is not None
        where, python = str(self.link), self.python
        if line is None or not line.startswith("remrepl-check "):
            status = reader.exit_status()
            err = reader.stderr()
            if status == 127 or "not found" in err or "No such file" in err:
                said = err.strip(":\n ").splitlines()[-1:] or [f"exit status {status}"]
                self._refuse_remembered("it is not there any more")
                error = RemoteEnvironmentError(
                    f"no Python at {python!r} on {where} ({said[0]}); install Python 3 there, or name it with "
                    "--remote-python (--bootstrap then makes a virtual environment with it)"
                )
                error.bootstrap_fixes = True
                raise error
            self._refuse_remembered(f"it could not run the remrepl check, exit status {status}")
            raise RemoteEnvironmentError(
                f"{python} on {where} could not run the remrepl check (exit status {status}); is it Python 3?{err}"
            )
        words = line.split()
        if words[1] == "old-python":
            self._refuse_remembered(f"it is Python {words[2]}")
            raise RemoteEnvironmentError(
                f"{python} on {where} is Python {words[2]}; remrepl needs 3.10 or newer (--remote-python names another)"
            )
        if words[1] == "no-remrepl":
            self._refuse_remembered("remrepl is not installed for it any more")
            error = RemoteEnvironmentError(
                f"remrepl is not installed for {python} on {where}; --bootstrap installs it into a virtual "
                f"environment there ({self.remote_venv})"
            )
            error.bootstrap_fixes = True
            raise error
        if words[1] == "version":
            self._refuse_remembered(
                f"its remrepl {words[3]} speaks protocol version {words[2]}, this one {PROTOCOL_VERSION}"
            )
            error = RemoteEnvironmentError(
                f"the remrepl on {where} ({python}, version {words[3]}) speaks protocol version {words[2]}, this "
                f"one speaks version {PROTOCOL_VERSION}; --bootstrap installs this remrepl into a virtual "
                f"environment there ({self.remote_venv}), or upgrade it on both machines"
            )
            error.bootstrap_fixes = True
            raise error
        self.remote_version = words[3] if len(words) > 3 else None
        if self.remembered and self.remote_version != _local_version():
            self.notify(
                f"{where} runs remrepl {self.remote_version} ({python}, from an earlier --bootstrap), this one is "
                f"{_local_version()}; --bootstrap installs this one"
            )

    def _refuse_remembered(self, reason: str) -> None:
        """One line for an interpreter remembered from an earlier --bootstrap that no longer works: no
        silent fall-back to python3 (which would run another remrepl, or none)."""
        if self.remembered:
            assert self.link is not None
            error = RemoteEnvironmentError(
                f"{self.python} on {self.link}, remembered from an earlier --bootstrap, no longer works ({reason}); "
                "--bootstrap installs remrepl there again, --remote-python names another interpreter"
            )
            error.bootstrap_fixes = True
            raise error

    # --- the session --------------------------------------------------------------------------

    def connect(
        self, *, connect_timeout: float = 10.0, input_handler: InputHandler = terminal_input, script: bool = False
    ) -> Session:
        """A session that survives a dropped link: it reconnects SSH and the tunnel, and reattaches."""
        from ...client.reconnect import Reconnector

        session = super().connect(connect_timeout=connect_timeout, input_handler=input_handler, script=script)
        if not self.direct:
            session.on_link_lost = Reconnector(self.relink, notify=self.notify)
        return session

    def relink(self) -> None:
        """A new SSH connection after a drop: tether re-attached, the tunnel (same local port) on it.
        Called by the session's reconnector and by the watchdog: whoever comes second finds it done."""
        with self._relink_lock:
            if self.link is None or self._detached:
                raise ServerGone("this launcher is closed")
            if self.link.active and self._probe_server(self.link):
                return
            self._relink()

    def _probe_server(self, link: SSHLink) -> bool:
        """Is the link really up? ServerGone if it is but nothing listens at the server's address."""
        import paramiko

        assert self.ready is not None
        where = (self.ready.host, self.ready.port)
        try:
            link.transport.open_channel("direct-tcpip", where, ("127.0.0.1", 0), timeout=10.0).close()
        except paramiko.ChannelException:  # sshd answered: it could not connect there
            raise ServerGone(f"the server on {link} is gone: nothing listens at {where[0]}:{where[1]}") from None
        except Exception as exc:  # no answer: the link only looked alive (a silent network drop)
            if not is_ssh_failure(exc):
                raise
            link.close()
            return False
        return True

    def _relink(self) -> None:
        assert self.link is not None and self.ready is not None
        old = self.link
        link = connect_ssh(self.ssh_target, self.options)
        try:
            with ssh_errors(f"cannot re-attach to the server on {link}"):
                channel = open_session(link)
                attach = "from remrepl.launchers.ssh.keeper import main; sys.exit(main(sys.argv[1:]))"
                words = [*python_words(code=attach), "attach", self.ready.tether]  # the prologue imports sys
                command = f"exec {shell_path(self.python)} {shlex.join(words)}"
                channel.exec_command(command)
                answer = _LineReader(channel, time.monotonic() + 15.0, link).line("the tether")
        except BaseException:
            link.close()
            raise
        if not isinstance(decode_word(answer), Attached):
            link.close()
            raise ServerGone(f"the server on {link} is gone (it stopped while the link was down)")
        self.link, self.channel = link, channel
        if self.tunnel is not None:
            self.tunnel.use(link.transport)
            self.tunnel.drop_connections()
        old.close()

    # --- ending -------------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> int | None:
        """The remote keeper's exit status (the server's) once it ended; None while it runs."""
        if self.channel is None:
            return self._exit_status
        if not self.channel.status_event.wait(timeout):
            return None
        status: int = self.channel.exit_status
        return status

    def close(self) -> None:
        """Stop the server (unless detached), then the tunnel and the SSH connection. Idempotent."""
        if self.channel is not None and not self._detached:
            try:
                self.channel.sendall(encode_word(Stop()))
                self.channel.status_event.wait(15.0)
            except Exception:
                pass  # the link is gone: the server stops after its grace period
        self._release()

    def detach(self) -> None:
        """Leave the server running by itself (``--keep``): untether it, then close the SSH side."""
        if self.channel is not None and not self._detached:
            try:
                self.channel.sendall(encode_word(Detach()))
                self.channel.status_event.wait(15.0)
            except Exception:
                pass
        self._detached = True
        self._release()

    def _release(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        if self.channel is not None and self.channel.exit_status_ready():
            self._exit_status = self.channel.exit_status
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        if self.channel is not None:
            try:
                self.channel.close()
            except Exception:
                pass
            self.channel = None
        if self.link is not None:
            self.link.close()
            self.link = None

    # --- records for reattaching later --------------------------------------------------------

    def write_record(self, path: str | os.PathLike[str]) -> None:
        """A 0600 session record at ``path`` (``records.py``): the ConnectionInfo (with the client key) plus
        ``launcher`` (``record_data()``); ``registry.reattach(records.read(path))`` comes back through it."""
        from .. import records

        records.write(path, records.of_launcher(self))

    def record_data(self) -> dict[str, str]:
        """What ``reattach`` needs besides the ConnectionInfo (strings only, for a session record)."""
        return {
            "kind": "ssh",
            "target": self.target,
            "ssh_config": self.options.ssh_config or "",
            "remote_host": self.ready.host if self.ready is not None else "127.0.0.1",
            "remote_port": str(self.ready.port) if self.ready is not None else "",
            "direct": "yes" if self.direct else "",
            **({"host_key_alias": self.options.host_key_alias} if self.options.host_key_alias else {}),
            **({"known_hosts_file": self.options.known_hosts_file} if self.options.known_hosts_file else {}),
        }


class _LineReader:
    """Lines from a channel's stdout with one deadline for all of them."""

    def __init__(self, channel: Any, deadline: float, link: SSHLink) -> None:
        self.channel, self.deadline, self.link = channel, deadline, link
        self.buffer = b""

    def line(self, what: str) -> str | None:
        while b"\n" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise LaunchError(f"no answer from {self.link} within the deadline, waiting for {what}{self.stderr()}")
            self.channel.settimeout(remaining)
            try:
                chunk = self.channel.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def exit_status(self) -> int:
        self.channel.status_event.wait(max(0.1, self.deadline - time.monotonic()))
        return int(self.channel.exit_status)

    def stderr(self) -> str:
        err = b""
        while self.channel.recv_stderr_ready() and len(err) < 65536:
            err += self.channel.recv_stderr(4096)
        text = err.decode(errors="replace").strip()
        return f":\n{text}" if text else ""
