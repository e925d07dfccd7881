"""Commands on an SSH host: a channel of their own (``open_session``), or run to the end (``run_remote``).

Used by the SSH launcher, ``--bootstrap`` and the EC2 launcher and cluster (cloud-init, reaper checks).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .._exceptions import LaunchError
from .errors import ssh_errors

if TYPE_CHECKING:
    from .link import SSHLink


def run_remote(link: SSHLink, command: str, timeout: float) -> tuple[int, str]:
    """Run ``command`` on the host; (exit status, stdout and stderr combined). ``LaunchError`` after
    ``timeout``, ``SSHError`` on a dead link."""
    channel = open_session(link)
    try:
        with ssh_errors(f"running a command on {link} failed"):
            channel.set_combine_stderr(True)  # one stream: a full stderr can never stall the command
            channel.exec_command(command)
            channel.shutdown_write()
            channel.settimeout(1.0)
            out = bytearray()
            deadline = time.monotonic() + timeout
            while True:
                if time.monotonic() > deadline:
                    raise LaunchError(f"{command.split()[0]} on {link} did not finish within {timeout:g} s")
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                out += chunk
            if not channel.status_event.wait(max(1.0, deadline - time.monotonic())):
                raise LaunchError(f"{command.split()[0]} on {link} did not finish within {timeout:g} s")
            return channel.exit_status, out.decode(errors="replace")
    finally:
        channel.close()


def open_session(link: SSHLink) -> Any:
    with ssh_errors(f"cannot open an SSH channel on {link}"):
        return link.transport.open_session(timeout=15.0)
