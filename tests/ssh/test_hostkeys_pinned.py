"""Host keys the EC2 way, against a real sshd: the instance id as HostKeyAlias, remrepl's own known_hosts,
and the fingerprints the instance printed on its console (``SSHOptions.expected_host_keys``)."""

from __future__ import annotations

import base64
from pathlib import Path

import paramiko
import pytest
from testhosts import SSHD, SSHHosts, keygen

from remrepl._exceptions import HostKeyError
from remrepl.ssh.config import SSHOptions, SSHTarget
from remrepl.ssh.hostkeys import fingerprint
from remrepl.ssh.link import connect_ssh

ALIAS = "i-0123456789abcdef0"


def key_of(line: str) -> paramiko.PKey:
    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def options(hosts: SSHHosts, own: Path, said: list[str], **extra: object) -> SSHOptions:
    return SSHOptions(
        ssh_config=str(hosts.ssh_config),
        host_key_alias=ALIAS,
        known_hosts_file=str(own),
        notify=said.append,
        **extra,  # type: ignore[arg-type]
    )


def test_a_key_matching_the_console_fingerprint_is_accepted_and_recorded_under_the_alias(
    sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    own, said = tmp_path / "ec2_known_hosts", list[str]()
    print_ = fingerprint(key_of(sshd.host_key_line))
    connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said, expected_host_keys=(print_,))).close()
    assert own.read_text() == f"{ALIAS} {sshd.host_key_line}\n"
    assert own.stat().st_mode & 0o777 == 0o600
    assert any("verified the host key of" in text and "console" in text for text in said), said
    # known now: a later connection needs no console list
    connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said)).close()


def test_a_full_public_key_from_the_console_works_too(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    own, said = tmp_path / "ec2_known_hosts", list[str]()
    expected = ("ecdsa-sha2-nistp256 AAAAnotthisone", f"{sshd.host_key_line} root@head")
    connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said, expected_host_keys=expected)).close()
    assert ALIAS in own.read_text()


def test_a_key_not_matching_the_console_fingerprints_is_refused(
    sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    own, said = tmp_path / "ec2_known_hosts", list[str]()
    other = key_of(keygen(tmp_path / "other", "other"))
    wrong = (fingerprint(other), "SHA256:" + "A" * 43)
    with pytest.raises(HostKeyError, match=r"is NOT one of the keys the host printed on its console"):
        connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said, expected_host_keys=wrong))
    assert not own.exists() or own.read_text() == ""  # nothing recorded
    # ... and accept_new does not override the console's list
    with pytest.raises(HostKeyError, match="NOT one of"):
        connect_ssh(
            SSHTarget.parse("target"),
            options(ssh_hosts, own, said, expected_host_keys=wrong, accept_new_host_key=True),
        )


def test_without_console_keys_the_first_key_is_accepted_only_when_asked(
    sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    own, said = tmp_path / "ec2_known_hosts", list[str]()
    # ssh_config's own known_hosts knows the key as [127.0.0.1]:PORT, but the alias's file is ours: unknown
    with pytest.raises(HostKeyError, match=rf"the host key of {ALIAS} is unknown"):
        connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said))
    connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said, accept_new_host_key=True)).close()
    assert own.read_text() == f"{ALIAS} {sshd.host_key_line}\n"


def test_a_changed_key_for_the_instance_id_is_refused(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    own, said = tmp_path / "ec2_known_hosts", list[str]()
    other = keygen(tmp_path / "other", "other").split()
    own.write_text(f"{ALIAS} {other[0]} {other[1]}\n")
    print_ = fingerprint(key_of(sshd.host_key_line))
    with pytest.raises(HostKeyError, match="has CHANGED"):
        connect_ssh(SSHTarget.parse("target"), options(ssh_hosts, own, said, expected_host_keys=(print_,)))
