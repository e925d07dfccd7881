"""``ConnectionInfo``: everything a client needs to reach one server, as the ready line carries it.

The server prints it as its ready line (``{"event": "ready", ...}``) and ``--connection-file`` writes
it 0600. It never holds the password. A launcher's record may hold ``client_secret_key``: the key the
launcher made and handed to the server over stdin; such a record is as private as an SSH key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from .._files import write_private
from .keys import KdfParams, is_z85_key


@dataclass(frozen=True)
class ConnectionInfo:
    host: str
    port: int
    server_public_key: bytes  # Z85
    pid: int = 0
    protocol: int = 0
    python: str = ""
    kdf: KdfParams = field(default_factory=KdfParams)
    # Z85; only in launcher records, never printed (repr=False: a repr lands in logs, tracebacks, the REPL)
    client_secret_key: bytes = field(default=b"", repr=False)

    def to_json(self, *, include_secret: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "server_public_key": self.server_public_key.decode(),
            "pid": self.pid,
            "protocol": self.protocol,
            "python": self.python,
            "kdf": self.kdf.to_json(),
        }
        if include_secret and self.client_secret_key:
            data["client_secret_key"] = self.client_secret_key.decode()
        return data

    @classmethod
    def from_json(cls, data: object, source: str = "connection information") -> ConnectionInfo:
        if not isinstance(data, dict):
            raise ConfigError(f"{source} is not a JSON object")
        try:
            info = cls(
                host=str(data["host"]),
                port=int(data["port"]),
                server_public_key=str(data["server_public_key"]).encode(),
                pid=int(data.get("pid", 0)),
                protocol=int(data.get("protocol", 0)),
                python=str(data.get("python", "")),
                kdf=KdfParams.from_json(data.get("kdf")),
                client_secret_key=str(data.get("client_secret_key", "")).encode(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source} lacks or garbles {exc}") from None
        if not is_z85_key(info.server_public_key):
            raise ConfigError(f"{source}: server_public_key is not a Z85 CURVE key")
        if info.client_secret_key and not is_z85_key(info.client_secret_key):
            raise ConfigError(f"{source}: client_secret_key is not a Z85 CURVE key")
        return info

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ConnectionInfo:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the connection file {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(f"the connection file {path} is not JSON") from None
        return cls.from_json(data, f"the connection file {path}")

    def write(self, path: str | os.PathLike[str], *, include_secret: bool = False) -> None:
        write_private(path, json.dumps(self.to_json(include_secret=include_secret), indent=2) + "\n")
