"""Workers on SSH hosts: one ``python -m remrepl.cluster.remote_worker`` per worker, over the SSH
launcher's connection code (ssh_config, known_hosts checks, keys, ProxyJump for the SSH hop).

Each worker has its own SSH connection; its TLS material goes down the channel's stdin. Closing the
channel (``close()``, or the head node dying) ends the worker on its host. The scheduler listens on
``scheduler_host``, which every host must reach over TCP; by default the address this machine uses to
reach the first host. Workers listen on their host's address as the head reaches it (ssh_config's
HostName), where the head's client fetches results.

``RemoteWorkers`` and ``SSHWorker`` are also the base of the EC2 backend (``ec2.py``): an EC2 worker is
"launch an instance, wait until it runs, then start it as here".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shlex
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..._exceptions import ClusterError, ConfigError
from ..._files import python_words
from ...ssh.bootstrap import DEFAULT_VENV, venv_python
from ...ssh.errors import ssh_errors
from ..tls import ClusterCertificates
from .base import WorkerBackend

if TYPE_CHECKING:
    import paramiko

    from ...ssh.config import SSHOptions, SSHTarget
    from ...ssh.link import SSHLink

READY_TIMEOUT = 60.0  # seconds for a remote worker to start and connect


class RemoteWorkers(WorkerBackend):
    """Workers started over SSH, one ``remote_worker`` process per SSH channel (see ``SSHWorker``)."""

    options: SSHOptions
    python: str = "python3"
    threads: int = 1  # per worker process; 0: one per core of its host
    worker_args: tuple[str, ...] = ()  # extra arguments of remote_worker (the EC2 dead man's switch)

    def python_for(self, link: SSHLink) -> str:
        """The interpreter that runs the workers on ``link``'s host."""
        return self.python

    def worker_command(self, python: str) -> str:
        from ...ssh.bootstrap import shell_path  # a leading ~/ is the remote's home

        # a safe import path: the login's directory (the home) may hold a user's json.py
        arguments = shlex.join([*python_words(module="remrepl.cluster.remote_worker"), *self.worker_args])
        return f"{shell_path(python)} {arguments}"

    def worker_spec(self, certs: ClusterCertificates) -> dict[str, Any]:
        return {"cls": self.worker_class(), "options": {"backend": self, "certs": certs}}

    def worker_class(self) -> type:
        return SSHWorker


class SSHWorkers(RemoteWorkers):
    """``workers_per_host`` single-threaded worker processes on each of ``hosts`` (ssh_config aliases).

    ``bootstrap``: first install this remrepl with the ``cluster`` extra (Dask at this machine's version)
    into ``venv`` on every host, in parallel (``hostprep.py``), made with ``python`` (default ``python3``);
    the workers then run the venv's python. Without it the workers run ``python``, or, not given, the
    interpreter an earlier bootstrap of that host installed into (``ssh/known_pythons.py``), else
    ``python3``."""

    kind = "ssh"

    def __init__(
        self,
        hosts: list[str],
        *,
        workers_per_host: int = 1,
        ssh_config: str | None = None,
        accept_new_host_key: bool = False,
        python: str | None = None,
        scheduler_host: str | None = None,
        bootstrap: bool = False,
        venv: str = DEFAULT_VENV,
    ) -> None:
        from ...ssh.config import SSHOptions, SSHTarget

        if not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise ValueError(f"hosts must be a non-empty list of host names, not {hosts!r}")
        if not isinstance(workers_per_host, int) or workers_per_host < 1:
            raise ValueError(f"workers must be a whole number >= 1 per host, not {workers_per_host!r}")
        self.targets = [SSHTarget.parse(h) for h in hosts]  # ConfigError for a malformed one, before any work
        self.options = SSHOptions(ssh_config=ssh_config, accept_new_host_key=accept_new_host_key)
        if not isinstance(venv, str) or not venv:
            raise ValueError(f"venv must be a directory on the hosts, such as {DEFAULT_VENV!r}, not {venv!r}")
        self.given_python, self.bootstrap, self.venv = python, bool(bootstrap), venv
        self.python = venv_python(venv) if bootstrap else python or "python3"
        self.count = len(hosts) * workers_per_host
        self._next = itertools.cycle(self.targets)
        self.scheduler_host = scheduler_host or self._route_to(self.targets[0])

    @property
    def initial_workers(self) -> int:
        return self.count

    def _route_to(self, target: SSHTarget) -> str:
        """This machine's address on the route to ``target`` (as ssh_config resolves it)."""
        from ...ssh.config import load_config, resolve

        settings = resolve(target, load_config(self.options.ssh_config), None)
        try:
            address = socket.getaddrinfo(settings.hostname, settings.port, type=socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            raise ConfigError(f"cannot resolve {settings.hostname} (host {target}): {exc}") from None
        with socket.socket(socket.AF_INET6 if ":" in str(address) else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((address, settings.port))  # UDP: picks the route, sends nothing
            local: str = probe.getsockname()[0]
        return local

    def next_target(self) -> SSHTarget:
        return next(self._next)

    def prepare(self) -> None:
        if self.bootstrap:
            from .hostprep import bootstrap_hosts

            bootstrap_hosts(self.targets, self.options, self.given_python or "python3", self.venv)

    def python_for(self, link: SSHLink) -> str:
        if self.bootstrap or self.given_python is not None:
            return self.python
        from ...ssh.known_pythons import recall

        return recall(str(link)) or "python3"


async def in_thread(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a thread of its own: starting a worker can block for minutes (an EC2 instance), and
    asyncio's default pool has only a few threads, which would start a large cluster a few at a time."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return  # the awaiting task was cancelled meanwhile
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            fn()
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:
            pass  # the event loop is gone (the cluster was torn down): nobody waits for this any more

    threading.Thread(target=run, name="remrepl-worker-ssh", daemon=True).start()
    await done


def _process_interface() -> type:
    from distributed.deploy.spec import ProcessInterface

    return ProcessInterface


class SSHWorker(_process_interface()):  # type: ignore[misc]
    """One remote worker, as Dask's ``SpecCluster`` drives it (a ``ProcessInterface``).

    Subclasses say where it runs: ``_prepare`` (the host to reach), ``_connect`` (how), ``_release`` (what
    to give back once the worker stopped).
    """

    def __init__(self, scheduler: str, *, name: str | int, backend: RemoteWorkers, certs: ClusterCertificates) -> None:
        super().__init__(scheduler, str(name))
        self.scheduler = scheduler
        self.name = str(name)
        self.backend = backend
        self.certs = certs
        self.target: SSHTarget | str = "(not chosen yet)"
        self._link: SSHLink | None = None
        self._channel: paramiko.Channel | None = None
        self._closing = threading.Event()  # close() came while _start was still connecting
        self.python = backend.python  # the one the worker runs, once chosen for its host

    async def start(self) -> None:
        await in_thread(self._start)  # paramiko blocks: not on Dask's event loop
        await super().start()

    async def close(self) -> None:
        self._closing.set()
        await in_thread(self._stop)
        await super().close()

    def _prepare(self) -> SSHTarget:
        """The host to start the worker on."""
        assert isinstance(self.backend, SSHWorkers)
        return self.backend.next_target()

    def _connect(self, target: SSHTarget) -> SSHLink:
        from ...ssh.link import connect_ssh

        return connect_ssh(target, self.backend.options)

    def _worker_name(self, target: SSHTarget) -> str:
        return f"{target.host}-{self.name}"

    def _release(self) -> None:
        """Give back what ``_prepare`` took, once the worker stopped (nothing, for an SSH host)."""

    def _start(self) -> None:
        try:
            target = self.target = self._prepare()
            if self._closing.is_set():
                raise ClusterError(f"the cluster closed while the worker on {self.target} was starting")
            self._link = self._connect(target)
            if self._closing.is_set():
                raise ClusterError(f"the cluster closed while the worker on {self.target} was starting")
            with ssh_errors(f"cannot start the worker on {self.target}", ClusterError):
                channel = self._link.transport.open_session()
                self._channel = channel
                python = self.python = self.backend.python_for(self._link)
                channel.exec_command(f"exec {self.backend.worker_command(python)}")
                config = {
                    "scheduler": self.scheduler,
                    "name": self._worker_name(target),
                    "host": self._link.settings.hostname,
                    "nthreads": self.backend.threads,
                    "processes": self.backend.processes,
                    "ca_pem": self.certs.ca_pem,
                    "cert_pem": self.certs.worker.cert_pem,
                    "key_pem": self.certs.worker.key_pem,
                }
                channel.sendall(json.dumps(config).encode() + b"\n")
                reply = self._read_line(channel, time.monotonic() + READY_TIMEOUT)
            if "ready" not in reply:
                raise ClusterError(f"the worker on {self.target} did not start: {reply.get('error', reply)}")
            self.address = str(reply["ready"])
            if self._closing.is_set():
                raise ClusterError(f"the cluster closed while the worker on {self.target} was starting")
        except BaseException:
            self._stop()
            raise

    def _read_line(self, channel: paramiko.Channel, deadline: float) -> dict[str, Any]:
        data = b""
        while b"\n" not in data:  # bounded by the deadline
            if time.monotonic() > deadline:
                raise ClusterError(f"the worker on {self.target} did not start within {READY_TIMEOUT:g} s")
            if channel.recv_ready():
                chunk = channel.recv(4096)
                if not chunk:
                    break
                data += chunk
            elif channel.exit_status_ready() and not channel.recv_ready():
                break
            else:
                time.sleep(0.02)
        line = data.split(b"\n", 1)[0]
        if not line:
            said = b""
            while channel.recv_stderr_ready():
                said += channel.recv_stderr(65536)
            tail = said.decode(errors="replace").strip()[-800:]
            raise ClusterError(
                f"the worker on {self.target} exited before it was ready (is remrepl[cluster] installed for "
                f"{self.python!r} there? bootstrap=True installs it): {tail or 'no output'}"
            )
        try:
            reply = json.loads(line)
        except ValueError:
            raise ClusterError(f"the worker on {self.target} said {line[:200]!r}, not its ready line") from None
        if not isinstance(reply, dict):
            raise ClusterError(f"the worker on {self.target} said {line[:200]!r}, not its ready line")
        return reply

    def _stop(self) -> None:
        try:
            self._stop_worker()
        finally:
            self._release()

    def _stop_worker(self, *, disarm: bool = True) -> None:
        """Stop the remote worker; ``disarm``: tell it so (else its dead man's switch, if any, stays on)."""
        channel, link, self._channel, self._link = self._channel, self._link, None, None
        if channel is not None:
            try:
                if disarm:
                    channel.sendall(b'{"stop": true}\n')  # a close on purpose: no dead man's switch
                channel.shutdown_write()  # EOF on the worker's stdin: it stops
                deadline = time.monotonic() + 10
                while not channel.exit_status_ready() and time.monotonic() < deadline:
                    time.sleep(0.05)
            except Exception:
                pass  # the link is already gone: so is the worker (its stdin closed)
            channel.close()
        if link is not None:
            link.close()
