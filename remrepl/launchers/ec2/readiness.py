"""Readiness of a new EC2 head node, in stages, each with its own deadline and an error naming it.

    instance running -> SSH port -> SSH login -> remrepl installed -> server ready

Every wait is a bounded poll with exponential back-off (``Backoff``): no fixed sleeps, so a head that is
ready early is used early. Every probe goes where the user's ssh_config sends it (HostName, Port,
ProxyJump): a bastion in front of the instance, or the tests' loopback sshd standing in for moto's
made-up public IPs. Nothing here ever opens a connection to an instance's public IP that ssh_config did not
name. ``Timings`` keeps how long each stage took (the benchmark prints them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..._exceptions import HostKeyError, HostUnreachable, LaunchError, ReadinessError, SSHError
from ...ssh.config import SSHOptions, SSHTarget, load_config, resolve, target_settings
from ...ssh.errors import reason
from ...ssh.link import SSHLink, _open_socket, connect_ssh

STAGES = ("instance running", "SSH port", "SSH login", "remrepl installed", "server ready")
DEFAULT_DEADLINES = {
    "instance running": 300.0,
    "SSH port": 300.0,
    "SSH login": 180.0,
    "remrepl installed": 900.0,  # cloud-init's packages, then pip installing remrepl's dependencies
    "server ready": 60.0,
}


class Backoff:
    """Pauses between polls: ``first`` s, growing by ``factor`` up to ``cap``, never past ``deadline``."""

    def __init__(self, deadline: float, *, first: float = 0.05, factor: float = 1.6, cap: float = 2.0) -> None:
        self.deadline, self.delay, self.factor, self.cap = deadline, first, factor, cap
        self.polls = 0

    def pause(self) -> bool:
        """Sleep before the next poll; False (without sleeping) when the deadline has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(self.delay, remaining))
        self.delay = min(self.delay * self.factor, self.cap)
        self.polls += 1
        return True


@dataclass
class Timings:
    """Seconds per stage, in the order they ran (``up`` and ``down`` steps alike)."""

    stages: dict[str, float] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)  # probes a waiting stage made (1: ready at once)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start


def wait_port(target: SSHTarget, options: SSHOptions, deadline: float, *, still_there: Callable[[], str | None]) -> int:
    """Until the SSH port answers with an SSH banner, where ssh_config sends ``target``; the number of polls.

    ``still_there()`` returns why waiting is pointless (the instance was terminated), or None.
    With ProxyJump the port is probed by the login stage (it needs the hops' logins)."""
    settings = target_settings(resolve(target, load_config(options.ssh_config), options.connect_timeout), options)
    if settings.proxy_jump:
        return 0
    backoff = Backoff(deadline)
    last = "no answer yet"
    while True:
        gone = still_there()
        if gone:
            raise ReadinessError("SSH port", gone)
        settings.connect_timeout = max(0.5, min(5.0, deadline - time.monotonic()))
        try:
            sock = _open_socket(settings, None)
        except HostUnreachable as exc:
            last = str(exc)
        else:
            try:
                sock.settimeout(settings.connect_timeout)
                banner = sock.recv(256)
                if banner.startswith(b"SSH-"):
                    return backoff.polls + 1
                last = f"{settings.hostname}:{settings.port} answered {banner[:40]!r}, not an SSH banner"
            except OSError as exc:
                last = f"{settings.hostname}:{settings.port} closed the connection ({reason(exc)})"
            finally:
                sock.close()
        if not backoff.pause():
            raise ReadinessError(
                "SSH port", f"{settings.hostname}:{settings.port} did not answer with SSH in time (last: {last})"
            )


def wait_login(
    target: SSHTarget,
    options: SSHOptions,
    deadline: float,
    *,
    still_there: Callable[[], str | None],
    attempts: list[int] | None = None,
) -> SSHLink:
    """An SSH login, retried while it fails the way a booting instance fails: refused keys (cloud-init has
    not installed ours yet), a closed port, a handshake cut short. A host key that does not match is final."""
    backoff = Backoff(deadline, first=0.2)
    while True:
        gone = still_there()
        if gone:
            raise ReadinessError("SSH login", gone)
        if attempts is not None:
            attempts.append(1)
        try:
            return connect_ssh(target, options)
        except HostKeyError:
            raise
        except SSHError as exc:  # SSHAuthenticationFailed, HostUnreachable, a cut handshake
            last = str(exc)
        if not backoff.pause():
            raise ReadinessError("SSH login", f"no SSH login within the deadline (last: {last})")


def run_stage(stage: str, deadline: float, action: Callable[[float], object]) -> object:
    """``action(seconds left)``, its ``LaunchError`` restated as this stage's ``ReadinessError``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ReadinessError(stage, "no time left")
    try:
        return action(remaining)
    except ReadinessError:
        raise
    except HostKeyError:
        raise
    except LaunchError as exc:
        raise ReadinessError(stage, str(exc)) from None
