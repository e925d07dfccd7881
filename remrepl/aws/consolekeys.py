"""The SSH host keys a new instance prints on its console, to verify its first SSH connection.

cloud-init writes two blocks to the serial console at first boot (its ``ssh_authkey_fingerprints`` and
``keys_to_console`` modules), each line perhaps behind a prefix (``ec2: ``, ``[  12.3] cloud-init[512]: ``)::

    -----BEGIN SSH HOST KEY FINGERPRINTS-----
    256 SHA256:n6W9hmD2fqYw0F3MmZ1tCAp2mRi6ZVbXh0m9dUc2Yh8 root@ip-10-0-0-1 (ED25519)
    -----END SSH HOST KEY FINGERPRINTS-----
    -----BEGIN SSH HOST KEY KEYS-----
    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... root@ip-10-0-0-1
    -----END SSH HOST KEY KEYS-----

The console output is readable only through the EC2 API (with the account's credentials), so it is a
channel that an attacker on the network path cannot write to. cloud-init prints the blocks at the end of
its run, so they often come after SSH answers: the launcher then accepts the first key for the new
instance and checks it against the console once cloud-init is done (``EC2Launcher._check_first_key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import CloudError
from .session import aws_errors

_FINGERPRINT = re.compile(r"\b\d+\s+(SHA256:[A-Za-z0-9+/]+=*)(?:\s.*?)?(?:\((\w+)\))?\s*$")
_KEY = re.compile(r"\b((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-[\w@.-]+))\s+(AAAA[A-Za-z0-9+/]+=*)")
_BLOCKS = {"FINGERPRINTS": "fingerprints", "KEYS": "keys"}
# what AWS answers ``Latest=True`` for an instance type that cannot give the latest output
NO_LATEST = ("UnsupportedOperation", "InvalidParameter", "InvalidParameterValue", "InvalidParameterCombination")
_MARK = re.compile(r"-----(BEGIN|END) SSH HOST KEY (FINGERPRINTS|KEYS)-----")


@dataclass(frozen=True)
class ConsoleKeys:
    keys: list[str] = field(default_factory=list)  # "type base64", in the order printed
    fingerprints: set[str] = field(default_factory=set)  # "SHA256:..." (unpadded base64, as OpenSSH prints)

    def __bool__(self) -> bool:
        return bool(self.keys or self.fingerprints)

    def vouches_for(self, key_type: str, key_base64: str) -> bool:
        """Whether the console printed this host key (itself, or its SHA256 fingerprint)."""
        if f"{key_type} {key_base64}" in self.keys:
            return True
        return fingerprint(key_base64) in self.fingerprints


def fingerprint(key_base64: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob given in base64."""
    digest = hashlib.sha256(base64.b64decode(key_base64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_console(text: str) -> ConsoleKeys:
    """The host keys and fingerprints in the blocks cloud-init printed (lines outside them are ignored:
    anything can print a key-shaped line on a console)."""
    keys: list[str] = []
    fingerprints: set[str] = set()
    inside: str | None = None
    for line in text.replace("\r", "").split("\n"):
        mark = _MARK.search(line)
        if mark:
            inside = _BLOCKS[mark.group(2)] if mark.group(1) == "BEGIN" else None
            continue
        if inside == "fingerprints":
            if match := _FINGERPRINT.search(line):
                fingerprints.add(match.group(1).rstrip("="))
        elif inside == "keys" and (match := _KEY.search(line)):
            key = f"{match.group(1)} {match.group(2)}"
            if key not in keys:
                keys.append(key)
    return ConsoleKeys(keys, fingerprints)


def _console_text(output: str) -> str:
    """boto3 decodes the console output from base64 itself; older clients (and some proxies) did not."""
    if "-----BEGIN" in output or "\n" in output.strip():
        return output
    try:
        return base64.b64decode(output, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return output


def read_console(ec2: Any, instance_id: str) -> str:
    """The instance's console output so far ("" when AWS has none yet): the latest (Nitro instances answer
    at once), else the copy AWS posts a few minutes after boot (other instance types refuse ``Latest``)."""
    try:
        with aws_errors(f"reading the console of instance {instance_id}"):
            answer = ec2.get_console_output(InstanceId=instance_id, Latest=True)
    except CloudError as exc:
        if exc.code not in NO_LATEST:
            raise
        with aws_errors(f"reading the console of instance {instance_id}"):
            answer = ec2.get_console_output(InstanceId=instance_id)
    return _console_text(str(answer.get("Output") or ""))


def console_keys(ec2: Any, instance_id: str) -> ConsoleKeys:
    return parse_console(read_console(ec2, instance_id))


def console_host_keys(ec2: Any, instance_id: str) -> list[str]:
    """The host keys ("type base64") and then the fingerprints ("SHA256:...") the instance printed on its
    console; [] when there are none (yet)."""
    found = console_keys(ec2, instance_id)
    return [*found.keys, *sorted(found.fingerprints)]
