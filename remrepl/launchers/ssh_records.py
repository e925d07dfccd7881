"""Back to a detached SSH-launched server (``--keep``) from its session record.

``SSHLauncher.record_data()`` gives the strings a reattach needs (target, ssh_config, the server's address on
the host); ``reattach(record, info)`` rebuilds the SSH link and tunnel; ``connect_record`` makes a session
through them that closes them with it and reconnects after a dropped link, as a launcher's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .._exceptions import ConfigError, ServerGone
from .._info import ConnectionInfo
from ..client.session import Session
from .ssh_errors import ssh_errors
from .sshlink import SSHLink, SSHOptions, SSHTarget, connect_ssh
from .tunnel import Tunnel


class Reattached:
    """A way back to a detached server from its record: the SSH link and tunnel, and where to connect."""

    def __init__(self, link: SSHLink, tunnel: Tunnel | None, info: ConnectionInfo, options: SSHOptions) -> None:
        self.link, self.tunnel, self.info, self.options = link, tunnel, info, options

    def relink(self) -> None:
        """After a drop: a new SSH connection under the same local tunnel port."""
        if self.tunnel is None:
            raise ServerGone("a --direct path has no tunnel to rebuild")
        link = connect_ssh(self.link.target, self.options)
        try:  # is the server still there? (a detached server has no keeper to ask)
            with ssh_errors(
                f"nothing listens at {self.tunnel.remote[0]}:{self.tunnel.remote[1]} on {link}", ServerGone
            ):
                link.transport.open_channel("direct-tcpip", self.tunnel.remote, ("127.0.0.1", 0), timeout=15.0).close()
        except BaseException:
            link.close()
            raise
        old, self.link = self.link, link
        self.tunnel.use(link.transport)
        self.tunnel.drop_connections()
        old.close()

    def close(self) -> None:
        if self.tunnel is not None:
            self.tunnel.close()
        self.link.close()


def reattach(record: Mapping[str, str], info: ConnectionInfo, *, accept_new_host_key: bool = False) -> Reattached:
    """Rebuild the path to a server from ``SSHLauncher.record_data()`` and its ConnectionInfo (with keys)."""
    if record.get("kind") != "ssh":
        raise ConfigError(f"not an SSH launcher record: kind {record.get('kind')!r}")
    options = SSHOptions(
        ssh_config=record.get("ssh_config") or None,
        accept_new_host_key=accept_new_host_key,
        host_key_alias=record.get("host_key_alias") or None,  # an EC2 head's: its instance id
        known_hosts_file=record.get("known_hosts_file") or None,
    )
    link = connect_ssh(SSHTarget.parse(record["target"]), options)
    try:
        remote = (record.get("remote_host") or "127.0.0.1", int(record["remote_port"]))
    except (KeyError, ValueError):
        link.close()
        raise ConfigError("the SSH launcher record lacks remote_port") from None
    if record.get("direct"):
        return Reattached(link, None, replace(info, host=link.settings.hostname, port=remote[1]), options)
    tunnel = Tunnel(link.transport, remote)
    return Reattached(link, tunnel, replace(info, host="127.0.0.1", port=tunnel.port), options)


def connect_record(data: Mapping[str, Any], info: ConnectionInfo, connect_timeout: float = 10.0) -> Session:
    """A session on a detached SSH-launched server from a record's data; closing it closes the tunnel.
    Like a launcher's session, it reconnects after a dropped link."""
    from ..client.reconnect import Reconnector
    from ..client.session import connect

    launcher = data.get("launcher")
    if not isinstance(launcher, dict):
        raise ConfigError("the record has no launcher section")
    path = reattach({str(k): str(v) for k, v in launcher.items()}, info)
    try:
        session = connect(info=path.info, connect_timeout=connect_timeout)
    except BaseException:
        path.close()
        raise
    session.on_close.append(path.close)
    if path.tunnel is not None:
        session.on_link_lost = Reconnector(path.relink)
    return session
