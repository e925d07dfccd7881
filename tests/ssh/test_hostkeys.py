"""Host key checks against known_hosts files, without a network: keys made here, files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from remrepl import HostKeyError
from remrepl.ssh import hostkeys
from remrepl.ssh.config import HostSettings, SSHOptions


def hop(tmp_path: Path, *, accept_new: bool = False) -> HostSettings:
    return HostSettings(
        alias="box",
        hostname="box.example",
        port=22,
        user="me",
        identity_files=[],
        identities_only=True,
        proxy_jump=[],
        connect_timeout=5.0,
        keepalive=0,
        known_hosts=[str(tmp_path / "known_hosts")],
        global_known_hosts=[str(tmp_path / "global_known_hosts")],
        accept_new=accept_new,
    )


def line(marker: str, pattern: str, key: paramiko.PKey) -> str:
    return f"{marker}{pattern} {key.get_name()} {key.get_base64()}\n"


def check(settings: HostSettings, key: paramiko.PKey, options: SSHOptions) -> None:
    hostkeys.verify(settings, key, hostkeys.known_keys(settings), options)


def test_a_known_key_passes_and_another_is_refused(tmp_path: Path) -> None:
    key, other = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    (tmp_path / "known_hosts").write_text(line("", "box.example", key))
    check(hop(tmp_path), key, SSHOptions())
    with pytest.raises(HostKeyError, match="CHANGED"):
        check(hop(tmp_path), other, SSHOptions(accept_new_host_key=True))


@pytest.mark.parametrize("where", ["known_hosts", "global_known_hosts"])
def test_a_revoked_key_is_refused_even_when_listed_or_new(tmp_path: Path, where: str) -> None:
    """OpenSSH refuses a key marked ``@revoked`` whatever else known_hosts says; so do we (and accept-new
    must not record it)."""
    key = paramiko.ECDSAKey.generate()
    (tmp_path / where).write_text(line("@revoked ", "*", key))
    notes: list[str] = []
    options = SSHOptions(accept_new_host_key=True, notify=notes.append)
    with pytest.raises(HostKeyError, match="REVOKED"):
        check(hop(tmp_path, accept_new=True), key, options)
    assert not notes  # nothing was recorded
    user_file = tmp_path / "known_hosts"
    assert not user_file.exists() or "box.example" not in user_file.read_text()
    with (tmp_path / "known_hosts").open("a") as f:  # listed as well: still refused
        f.write(line("", "box.example", key))
    with pytest.raises(HostKeyError, match="REVOKED"):
        check(hop(tmp_path), key, SSHOptions())


def test_a_revocation_for_another_host_does_not_apply(tmp_path: Path) -> None:
    key = paramiko.ECDSAKey.generate()
    (tmp_path / "known_hosts").write_text(line("@revoked ", "elsewhere.example", key) + line("", "box.example", key))
    check(hop(tmp_path), key, SSHOptions())
