"""``remrepl serve`` / ``python -m remrepl.server``: read the secret, bind, print the ready line, serve."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys

from .._exceptions import ConfigError, RemreplError
from ..transport import KdfParams, KeyPair, derive_client_keys, is_z85_key
from .hardening import exec_without_password_env, make_undumpable, read_password_file, read_password_stdin, wipe
from .serve_options import add_arguments


def _read_stdin_line(what: str) -> str:
    # Unbuffered, a byte at a time: with --tether, what follows the line on stdin is the launcher's.
    raw = b""
    while not raw.endswith(b"\n") and len(raw) < 4096:
        byte = os.read(0, 1)
        if not byte:
            break
        raw += byte
    line = raw.decode(errors="replace").rstrip("\r\n")
    if not line:
        raise ConfigError(f"no {what} on standard input")
    return line


def _client_key(args: argparse.Namespace, kdf: KdfParams, server_public_key: bytes) -> bytes:
    """The one client public key this server admits, from whichever secret the user chose. Only that
    public key outlives this call: the password is wiped once it is derived (hardening.py)."""
    if args.client_key_stdin:
        key = _read_stdin_line("client key").encode()
        if not is_z85_key(key):
            raise ConfigError("the client key on standard input is not a Z85 CURVE public key")
        return key
    if args.password_file:
        password = read_password_file(args.password_file)
    elif args.password_stdin:
        password = read_password_stdin()
    elif sys.stdin.isatty():
        typed = getpass.getpass("Password for the new server: ")  # a str: it cannot be wiped
        if not typed:
            raise ConfigError("an empty password is not allowed")
        password = bytearray(typed.encode())
        del typed
    else:
        raise ConfigError("no password: use --password-file FILE or --password-stdin")
    try:
        return derive_client_keys(password, server_public_key, kdf).public
    finally:
        wipe(password)


def run(args: argparse.Namespace) -> int:
    # Before any secret is read: the client's REMREPL_PASSWORD out of the exec'd environment (a re-exec,
    # same pid), and no same-uid process (the kernel's user code) may read this one's memory.
    exec_without_password_env()
    make_undumpable()
    from .supervisor.loop import Supervisor  # zmq loads only when a server really starts

    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s remrepl-server %(levelname)s %(message)s"
    )
    keys, kdf = KeyPair.generate(), KdfParams()
    if not args.activity_interval > 0:
        print("remrepl serve: --activity-interval must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        key = _client_key(args, kdf, keys.public)
        supervisor = Supervisor(
            keys=keys,
            client_public_keys=[key],
            kdf=kdf,
            host=args.bind,
            port=args.port,
            idle_timeout=args.idle_timeout,
            tether_fd=0 if args.tether else None,
            transfer_timeout=args.transfer_timeout,
            activity_interval=args.activity_interval,
        )
        info = supervisor.bind()
    except RemreplError as exc:
        print(f"remrepl serve: {exc}", file=sys.stderr)
        return 2
    if args.connection_file:
        info.write(args.connection_file)
    sys.stdout.write(json.dumps({"event": "ready", **info.to_json()}) + "\n")
    sys.stdout.flush()
    try:
        supervisor.serve_forever()
    finally:
        if args.connection_file:
            _remove_quietly(args.connection_file)
    return 0


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m remrepl.server", description="Start a remrepl server.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
