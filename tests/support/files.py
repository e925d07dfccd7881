"""Files for the transfer tests: big random ones (written a megabyte at a time, never held whole), their
SHA-256, and the hidden partial files (``.remrepl-part``) a failed transfer must not leave behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

MB = 1 << 20
PART = ".remrepl-part"


def random_file(path: Path, megabytes: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(MB))
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MB):
            digest.update(block)
    return digest.hexdigest()


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if PART in p.name]
