"""The options of ``remrepl serve`` and ``python -m remrepl.server``.

Apart from serve.py so that ``remrepl --help`` builds its parser without loading the keys (zmq, nacl) or
the hardening (ctypes) that only a starting server needs.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", default="127.0.0.1", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    secret.add_argument(
        "--client-key-stdin",
        action="store_true",
        help="read a client CURVE public key (Z85) from standard input instead of a password (for launchers)",
    )
    parser.add_argument(
        "--tether",
        action="store_true",
        help="for launchers: stop when standard input closes, unless a line 'detach' came first",
    )
    parser.add_argument("--connection-file", metavar="FILE", help="also write the ready information to FILE (0600)")
    parser.add_argument(
        "--idle-timeout", type=float, metavar="SECONDS", help="stop after this long without client activity"
    )
    parser.add_argument(
        "--transfer-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="abort a file transfer whose client is silent this long, removing its partial file (default 30)",
    )
    parser.add_argument(
        "--activity-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="touch the activity file (for the reaper) this often while in use (default 15)",
    )
    parser.add_argument("--log-level", default="INFO", help="log level for messages on stderr (default INFO)")
