"""What the user's ssh_config says about a host: the target they typed (``SSHTarget``), the settings of
each hop after ssh_config (``HostSettings``: HostName, User, Port, IdentityFile, ProxyJump, timeouts,
known_hosts files), and remrepl's own options (``SSHOptions``). No connection is made here; ``link.py``
connects with these, ``hostkeys.py`` checks host keys with them.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._exceptions import ConfigError

if TYPE_CHECKING:
    import paramiko

DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_KEEPALIVE = 15  # s: a dead link is noticed even when ssh_config sets no ServerAliveInterval
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
MAX_HOPS = 8

# (key file, prompt) -> passphrase or None to skip that key
PassphraseHandler = Callable[[str], "str | None"]


def terminal_passphrase(path: str) -> str | None:
    """Ask at the terminal; without one, the key is skipped."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"Passphrase for key {path}: ")


def require_paramiko() -> None:
    try:
        import paramiko  # noqa: F401
    except ImportError:
        raise ConfigError("launching over SSH needs paramiko: pip install paramiko") from None
    # paramiko logs its errors (with tracebacks) as well as raising them; we report them translated.
    paramiko_log = logging.getLogger("paramiko")
    if not paramiko_log.handlers:
        paramiko_log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class SSHTarget:
    """What the user typed: a host (or ssh_config alias), maybe a user and a port."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> SSHTarget:
        raw = text if text.startswith("ssh://") else "ssh://" + text
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise ConfigError(f"bad SSH target {text!r}: expected [ssh://][USER@]HOST[:PORT]") from None
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.password:
            raise ConfigError(f"bad SSH target {text!r}: expected [ssh://][USER@]HOST[:PORT]")
        host = parts.hostname if "[" not in parts.netloc else parts.netloc.split("[", 1)[1].split("]", 1)[0]
        # urlsplit lowercases the host; ssh_config aliases are case-sensitive, so keep what was typed.
        typed = parts.netloc.rsplit("@", 1)[-1]
        if typed.lower().startswith(host.lower()):
            host = typed[: len(host)]
        return cls(host=host, user=parts.username or None, port=port)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"


@dataclass
class HostSettings:
    """One hop, resolved through ssh_config."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: list[str]
    identities_only: bool
    proxy_jump: list[str]
    connect_timeout: float
    keepalive: int
    known_hosts: list[str]  # user files first: accept-new writes to the first
    global_known_hosts: list[str]
    host_key_alias: str | None = None
    accept_new: bool = False  # ssh_config's StrictHostKeyChecking accept-new ("no" is not honoured)
    # keys the host must present (SHA256 fingerprints or "type base64"): an EC2 console's; () = no such list
    expected_keys: tuple[str, ...] = ()
    extra_identity_files: tuple[str, ...] = ()  # tried last, even with IdentitiesOnly (SSHOptions.identity_files)

    @property
    def known_name(self) -> str:
        """The name known_hosts uses: ``HostKeyAlias``, else ``host``, or ``[host]:port`` off port 22."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


@dataclass
class SSHOptions:
    """How to connect: which ssh_config, whether to record a new host key, how to ask for passphrases."""

    ssh_config: str | None = None  # None: ~/.ssh/config if it exists
    accept_new_host_key: bool = False
    # For hosts whose keys come from elsewhere than known_hosts (new EC2 instances): checks the target's
    # host key (not the ProxyJump hops') instead of known_hosts, raising HostKeyError to refuse it.
    host_key_check: Callable[[HostSettings, Any], None] | None = None
    # In-memory private keys (paramiko PKeys) offered to the target before the agent and identity files.
    keys: tuple[Any, ...] = ()
    connect_timeout: float | None = None  # overrides ssh_config's ConnectTimeout
    passphrase: PassphraseHandler = terminal_passphrase
    notify: Callable[[str], None] = field(default=lambda text: print(f"remrepl: {text}", file=sys.stderr))
    # For the target only (not its ProxyJump hops); the EC2 launcher's: the instance id as HostKeyAlias (an
    # instance id is never reused, a public IP is), remrepl's own known_hosts, the console's fingerprints.
    host_key_alias: str | None = None
    known_hosts_file: str | None = None  # instead of ssh_config's UserKnownHostsFile (new keys go there)
    expected_host_keys: tuple[str, ...] = ()  # the target's key must be one of these (else HostKeyError)
    identity_files: tuple[str, ...] = ()  # tried after ssh_config's IdentityFile (a key remrepl generated)


def load_config(path: str | None) -> paramiko.SSHConfig:
    import paramiko

    config_path = Path(path).expanduser() if path else Path("~/.ssh/config").expanduser()
    if path is None and not config_path.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(config_path))
    except OSError as exc:
        raise ConfigError(f"cannot read the ssh config {config_path}: {exc.strerror}") from None
    except Exception as exc:  # paramiko's parser raises ConfigParseError and friends
        raise ConfigError(f"cannot parse the ssh config {config_path}: {exc}") from None


def resolve(target: SSHTarget, config: paramiko.SSHConfig, timeout: float | None) -> HostSettings:
    found = config.lookup(target.host)
    hostname = str(found.get("hostname", target.host))
    user = target.user or str(found.get("user") or getpass.getuser())
    try:
        port = target.port or int(found.get("port", 22))
        config_timeout = float(found.get("connecttimeout", DEFAULT_CONNECT_TIMEOUT))
        keepalive = int(found.get("serveraliveinterval", DEFAULT_KEEPALIVE))
    except ValueError as exc:
        raise ConfigError(f"bad number in the ssh config for {target.host}: {exc}") from None
    jump = str(found.get("proxyjump", "none"))
    user_files = str(found.get("userknownhostsfile", "~/.ssh/known_hosts ~/.ssh/known_hosts2")).split()
    global_files = str(found.get("globalknownhostsfile", "/etc/ssh/ssh_known_hosts")).split()
    return HostSettings(
        alias=target.host,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=[os.path.expanduser(p) for p in found.get("identityfile", [])],
        identities_only=str(found.get("identitiesonly", "no")).lower() == "yes",
        proxy_jump=[] if jump.lower() == "none" else [hop.strip() for hop in jump.split(",") if hop.strip()],
        connect_timeout=timeout if timeout is not None else config_timeout,
        keepalive=keepalive,
        known_hosts=[os.path.expanduser(p) for p in user_files],
        global_known_hosts=[os.path.expanduser(p) for p in global_files],
        host_key_alias=str(found["hostkeyalias"]) if found.get("hostkeyalias") else None,
        accept_new=str(found.get("stricthostkeychecking", "")).lower() == "accept-new",
    )


def target_settings(settings: HostSettings, options: SSHOptions) -> HostSettings:
    """The target's settings with the options' host key overrides and extra identity files applied."""
    return replace(
        settings,
        host_key_alias=options.host_key_alias or settings.host_key_alias,
        known_hosts=[options.known_hosts_file] if options.known_hosts_file else settings.known_hosts,
        expected_keys=tuple(options.expected_host_keys),
        extra_identity_files=tuple(options.identity_files),
    )
