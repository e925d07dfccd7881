"""One verified, authenticated SSH connection (paramiko), set up the way the user's ssh_config says.

``SSHTarget.parse("[ssh://][USER@]HOST[:PORT]")`` (``config.py``) names a host; ``connect_ssh(target, options)``
resolves it through ssh_config (HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump with any number of hops,
ConnectTimeout, ServerAliveInterval, UserKnownHostsFile, GlobalKnownHostsFile), checks every hop's host key
against known_hosts (``accept_new``: OpenSSH's ``StrictHostKeyChecking=accept-new``, never a silent add of a
changed key), logs in with the ssh-agent's keys and the identity files (asking for passphrases), and
returns an ``SSHLink``. paramiko's and the socket's exceptions become remrepl's here.
"""

from __future__ import annotations

import itertools
import os
import socket
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigError, HostUnreachable, SSHAuthenticationFailed
from . import hostkeys
from .config import (
    DEFAULT_IDENTITIES,
    MAX_HOPS,
    HostSettings,
    SSHOptions,
    SSHTarget,
    load_config,
    require_paramiko,
    resolve,
    target_settings,
)
from .errors import ssh_errors

if TYPE_CHECKING:
    import paramiko


class SSHLink:
    """An authenticated SSH connection to the target (and the hops it went through)."""

    def __init__(self, target: SSHTarget, settings: HostSettings, transports: list[paramiko.Transport]) -> None:
        self.target = target
        self.settings = settings
        self.transports = transports  # hops first, the target's last

    @property
    def transport(self) -> paramiko.Transport:
        return self.transports[-1]

    @property
    def active(self) -> bool:
        return all(t.is_active() for t in self.transports)

    def close(self) -> None:
        for transport in reversed(self.transports):
            try:
                transport.close()
            except Exception:
                pass

    def __str__(self) -> str:
        return f"{self.settings.user}@{self.settings.hostname}:{self.settings.port}"


def connect_ssh(target: SSHTarget, options: SSHOptions) -> SSHLink:
    """Connect to ``target`` (through its ProxyJump hops), verify host keys, log in."""
    require_paramiko()
    config = load_config(options.ssh_config)
    settings = target_settings(resolve(target, config, options.connect_timeout), options)
    hops = [resolve(SSHTarget.parse(hop), config, options.connect_timeout) for hop in settings.proxy_jump]
    if len(hops) > MAX_HOPS:
        raise ConfigError(f"ProxyJump for {target} has more than {MAX_HOPS} hops")
    transports: list[paramiko.Transport] = []
    try:
        for hop in [*hops, settings]:
            via = transports[-1] if transports else None
            transports.append(_login(hop, via, options, target=hop is settings))
    except BaseException:
        for transport in reversed(transports):
            transport.close()
        raise
    return SSHLink(target, settings, transports)


def _open_socket(hop: HostSettings, via: paramiko.Transport | None) -> Any:
    where = f"{hop.hostname}:{hop.port}"
    if via is not None:
        with ssh_errors(
            f"cannot reach {where} through the ProxyJump hop", HostUnreachable, timeout=hop.connect_timeout
        ):
            return via.open_channel(
                "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=hop.connect_timeout
            )
    with ssh_errors(f"cannot reach {where}", HostUnreachable, timeout=hop.connect_timeout):
        sock = socket.create_connection((hop.hostname, hop.port), timeout=hop.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as OpenSSH: interactive traffic
        return sock


def _login(
    hop: HostSettings, via: paramiko.Transport | None, options: SSHOptions, *, target: bool = True
) -> paramiko.Transport:
    import paramiko

    sock = _open_socket(hop, via)
    transport = paramiko.Transport(sock)
    # ConnectTimeout bounds every stage: the banner, the key exchange and the login.
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = hop.connect_timeout
    check = options.host_key_check if target else None
    try:
        known = hostkeys.known_keys(hop) if check is None else []
        if known:  # ask for a key type we can compare, as OpenSSH does
            transport.get_security_options().key_types = hostkeys.preferred_types(
                known, transport.get_security_options().key_types
            )
        doing = (
            f"SSH handshake with {hop.hostname}:{hop.port} failed within {hop.connect_timeout:g} s "
            "(is it an SSH server?)"
        )
        with ssh_errors(doing, timeout=hop.connect_timeout):
            # start_client returns quietly when its own timeout passes first: let the banner timeout fire
            transport.start_client(timeout=hop.connect_timeout + 1)
            key = transport.get_remote_server_key()
        if check is not None:
            check(hop, key)
        else:
            hostkeys.verify(hop, key, known, options)
        if hop.keepalive > 0:
            transport.set_keepalive(hop.keepalive)
        _authenticate(transport, hop, options, target=target)
    except BaseException:
        transport.close()
        raise
    return transport


def _authenticate(transport: paramiko.Transport, hop: HostSettings, options: SSHOptions, *, target: bool) -> None:
    where = f"{hop.user}@{hop.hostname}:{hop.port}"
    tried: list[str] = []
    memory = [(f"in-memory {key.get_name()} key", key) for key in (options.keys if target else ())]
    for name, key in itertools.chain(memory, _keys(hop, options)):  # lazily: keys may ask for passphrases
        tried.append(name)
        try:
            with ssh_errors(f"SSH login at {where} failed"):
                transport.auth_publickey(hop.user, key)
        except SSHAuthenticationFailed:  # this key was refused: offer the next
            continue
        if transport.is_authenticated():
            return
    offered = ", ".join(tried) if tried else "none (no ssh-agent keys, no identity files)"
    raise SSHAuthenticationFailed(
        f"{where} refused the login: user {hop.user!r} with keys {offered}; check User and IdentityFile in the "
        "ssh config"
    )


def _keys(hop: HostSettings, options: SSHOptions) -> Any:
    """(name, key) pairs to offer, in OpenSSH's order: identity files named in ssh_config, the agent's keys
    (unless IdentitiesOnly), then the default identity files."""
    import paramiko

    files = list(hop.identity_files)
    if not hop.identities_only:
        try:
            agent = paramiko.Agent()
        except paramiko.SSHException:
            agent = None
        if agent is not None:
            try:
                for key in agent.get_keys():
                    yield f"agent:{key.get_name()}", key
            finally:
                agent.close()
        if not files:
            files = [os.path.expanduser(f"~/.ssh/{name}") for name in DEFAULT_IDENTITIES]
    for path in [*files, *(f for f in hop.extra_identity_files if f not in files)]:
        if not os.path.exists(path):
            continue
        key = _load_key(path, options)
        if key is not None:
            yield path, key


def _load_key(path: str, options: SSHOptions) -> Any:
    import paramiko

    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):  # paramiko 4+: cryptography's TypeError
        pass
    except (paramiko.SSHException, OSError, ValueError) as exc:
        options.notify(f"skipping the key {path}: {exc}")
        return None
    for _ in range(3):  # as ssh: three tries at the passphrase
        passphrase = options.passphrase(path)
        if not passphrase:
            return None
        try:
            return paramiko.PKey.from_path(path, passphrase.encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, ValueError, TypeError):
            options.notify(f"wrong passphrase for {path}")
    return None
