"""Back to a detached SSH-launched server (``--keep``) from its session record: the SSH kind's way there.

``SSHLauncher.record_data()`` gives the strings a reattach needs (target, ssh_config, the server's address on
the host); ``reattach(data, info)`` rebuilds the SSH link and tunnel. ``registry.reattach`` makes a session
through them that closes them with it and reconnects after a dropped link, as a launcher's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..._exceptions import ConfigError, ServerGone
from ...ssh.config import SSHOptions, SSHTarget
from ...ssh.errors import ssh_errors
from ...ssh.link import SSHLink, connect_ssh
from ...ssh.tunnel import Tunnel
from ...transport.connection_info import ConnectionInfo


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
