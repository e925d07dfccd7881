"""Host keys against known_hosts, as OpenSSH checks them, with the file and line of every match.

paramiko's own ``HostKeys`` forgets where a key came from; a changed key must be reported with the file
and line to edit, so the files are read here line by line (plain and hashed host names, ``[host]:port``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._exceptions import HostKeyError

if TYPE_CHECKING:
    from .config import HostSettings, SSHOptions

RSA_TYPES = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


@dataclass(frozen=True)
class KnownKey:
    path: str
    line: int
    key: Any  # paramiko.PKey

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _glob(pattern: str, name: str) -> bool:
    """known_hosts patterns know only ``*`` and ``?`` (``[host]:port`` brackets are literal)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _matches(pattern_list: Sequence[str], name: str) -> bool:
    from paramiko.hostkeys import HostKeys

    matched = False
    for pattern in pattern_list:
        if pattern.startswith("|1|"):
            if HostKeys.hash_host(name, pattern) == pattern:
                matched = True
        elif pattern.startswith("!"):
            if _glob(pattern[1:], name):
                return False
        elif _glob(pattern, name):
            matched = True
    return matched


def known_keys(hop: HostSettings) -> list[KnownKey]:
    """Every known_hosts entry for this hop, user files first."""
    return _entries(hop, revoked=False)


def revoked_keys(hop: HostSettings) -> list[KnownKey]:
    """The ``@revoked`` entries that apply to this hop: OpenSSH refuses those keys whatever else is known."""
    return _entries(hop, revoked=True)


def _entries(hop: HostSettings, *, revoked: bool) -> list[KnownKey]:
    from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

    found: list[KnownKey] = []
    for path in [*hop.known_hosts, *hop.global_known_hosts]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if revoked:
                if not text.startswith("@revoked"):
                    continue
                text = text.removeprefix("@revoked").strip()
            elif not text or text.startswith(("#", "@")):  # @cert-authority is not handled (its hosts are refused)
                continue
            try:
                entry = HostKeyEntry.from_line(text, number)
            except (InvalidHostKey, ValueError, IndexError):
                continue
            if entry is not None and entry.key is not None and _matches(entry.hostnames, hop.known_name):
                found.append(KnownKey(path, number, entry.key))
    return found


def preferred_types(known: list[KnownKey], offered: Sequence[str]) -> list[str]:
    """The host key algorithms to ask for: those of the known keys (RSA keys by any RSA signature)."""
    wanted: list[str] = []
    for entry in known:
        name = entry.key.get_name()
        for algorithm in RSA_TYPES if name == "ssh-rsa" else (name,):
            if algorithm in offered and algorithm not in wanted:
                wanted.append(algorithm)
    return wanted or list(offered)


def verify(hop: HostSettings, key: Any, known: list[KnownKey], options: SSHOptions) -> None:
    """Accept ``key`` if known_hosts has it; record it if new and ``accept_new``; else ``HostKeyError``."""
    name, print_ = hop.known_name, fingerprint(key)
    for entry in revoked_keys(hop):  # before anything else: a revoked key is neither accepted nor recorded
        if entry.key.asbytes() == key.asbytes():
            raise HostKeyError(
                f"the host key of {name} ({key.get_name()} {print_}) is REVOKED at {entry.where}: refusing to connect"
            )
    if any(entry.key.asbytes() == key.asbytes() for entry in known):
        return
    user_file = hop.known_hosts[0] if hop.known_hosts else os.path.expanduser("~/.ssh/known_hosts")
    if hop.expected_keys:
        if not matches_expected(key, hop.expected_keys):
            raise HostKeyError(
                f"the host key of {name} ({key.get_name()} {print_}) is NOT one of the keys the host printed on "
                f"its console ({', '.join(sorted(hop.expected_keys))[:400]}): someone may be intercepting the "
                "connection; refusing to connect"
            )
        if not known:
            _record(user_file, name, key)
            options.notify(f"verified the host key of {name} ({key.get_name()} {print_}) against its console; recorded")
            return
    same_type = [entry for entry in known if entry.key.get_name() == key.get_name()]
    if same_type or known:
        entry = (same_type or known)[0]
        raise HostKeyError(
            f"the host key of {name} has CHANGED: it is now {key.get_name()} {print_}, but known_hosts has a "
            f"different key at {entry.where}. Someone may be intercepting the connection, or the host was "
            f"reinstalled; if you know why it changed, remove line {entry.line} of {entry.path} (ssh-keygen -R "
            f"'{name}') and connect again"
        )
    if not (options.accept_new_host_key or hop.accept_new):
        raise HostKeyError(
            f"the host key of {name} is unknown ({key.get_name()} {print_}); it is not in "
            f"{', '.join(hop.known_hosts) or user_file}. Check the fingerprint, then record it with "
            "--accept-new-host-key (or by connecting once with ssh)"
        )
    _record(user_file, name, key)
    options.notify(f"recorded the new host key of {name} ({key.get_name()} {print_}) in {user_file}")


def matches_expected(key: Any, expected: Sequence[str]) -> bool:
    """Is ``key`` one of ``expected``: SHA256 fingerprints ("SHA256:...") or public keys ("type base64 ...")?"""
    print_, line = fingerprint(key), f"{key.get_name()} {key.get_base64()}"
    for item in expected:
        words = item.split()
        if item.startswith("SHA256:") and item.rstrip("=") == print_:
            return True
        if len(words) >= 2 and f"{words[0]} {words[1]}" == line:
            return True
    return False


def _record(path: str, name: str, key: Any) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        os.write(fd, line.encode())
    finally:
        os.close(fd)
