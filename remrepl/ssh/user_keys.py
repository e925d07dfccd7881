"""The SSH key the head node is launched with: the user's own public key, or one remrepl makes.

The user's key is preferred, so their usual SSH setup logs in: among the ``IdentityFile``s their
ssh_config gives every host (``Host *``), ``~/.ssh/id_ed25519`` and ``~/.ssh/id_rsa`` (the types EC2
takes), the one their ssh-agent holds, else the first that has a ``.pub`` next to it. Without one,
remrepl makes a dedicated ed25519 key with ``cryptography`` and keeps it 0600 in ``state_dir()/ec2/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._exceptions import ConfigError
from .._files import state_dir, write_private

KEY_FILE = "id_ed25519"  # under state_dir("ec2")
_USER_KEYS = ("id_ed25519", "id_rsa")  # the types EC2 key pairs take
MIN_RSA_BITS = 2048


def usable_public_key(line: str) -> bool:
    """Whether ``line`` is an OpenSSH public key EC2 can import: ed25519, or RSA of 2048 bits or more."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        key = load_ssh_public_key(" ".join(line.split()[:2]).encode())
    except (ValueError, IndexError, TypeError):
        return False
    if isinstance(key, ed25519.Ed25519PublicKey):
        return True
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS


def _agent_blobs() -> set[str]:
    """The base64 public keys the user's ssh-agent holds (none without an agent)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return set()
    try:
        import paramiko

        agent = paramiko.Agent()
        try:
            return {key.get_base64() for key in agent.get_keys()}
        finally:
            agent.close()
    except Exception:  # no agent, a broken socket: we fall back to the key files
        return set()


def _identity_files(ssh_config: str | None) -> list[Path]:
    """The ``IdentityFile``s ssh_config gives every host (``Host *``); none if it cannot be read."""
    from .config import load_config

    try:
        found: str | list[str] = load_config(ssh_config).lookup("*").get("identityfile", [])
    except Exception:  # an unreadable config is the SSH launcher's to report; here it just gives no key
        return []
    paths = [found] if isinstance(found, str) else found
    return [Path(os.path.expanduser(path)) for path in paths]


def _user_keys(ssh_dir: Path, ssh_config: str | None) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for private in [*_identity_files(ssh_config), *(ssh_dir / name for name in _USER_KEYS)]:
        try:
            line = private.with_name(private.name + ".pub").read_text().strip().splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if usable_public_key(line) and all(line.split()[1] != known.split()[1] for known, _ in found):
            found.append((line, str(private) if private.exists() else None))
    return found


def generated_key() -> tuple[str, str]:
    """remrepl's own ed25519 key (made on first use, 0600): (public key line, private key path). An
    existing private key is never replaced (a running instance may only admit it): a lost ``.pub`` is
    derived from it again."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = state_dir("ec2") / KEY_FILE
    public = private.with_suffix(".pub")
    if private.exists():
        try:
            key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise ConfigError(
                f"cannot read remrepl's EC2 key {private}: {exc}; move it away to make a new one"
            ) from None
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        write_private(private, pem)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    line += " remrepl-ec2"
    if not public.exists() or public.read_text().strip() != line:
        write_private(public, line + "\n")  # not secret, but 0600 does no harm and keeps the pair alike
    return line, str(private)


def user_public_key(
    ssh_dir: Path | None = None, *, ssh_config: str | None = None, use_agent: bool = True
) -> tuple[str, str | None]:
    """The public key line to import and its private key's path (None when only the ``.pub`` is there):
    the user's key their ssh-agent holds, else the first of their ``Host *`` IdentityFiles, ed25519 and
    RSA keys, else remrepl's own generated key. ``ssh_config`` as the SSH launcher's (None: ~/.ssh/config)."""
    ssh_dir = ssh_dir if ssh_dir is not None else Path.home() / ".ssh"
    keys = _user_keys(ssh_dir, ssh_config)
    if keys and use_agent:
        held = _agent_blobs()
        for line, private in keys:
            if line.split()[1] in held:
                return line, private
    if keys:
        return keys[0]
    return generated_key()
