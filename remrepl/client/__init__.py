"""The client library: ``Session`` (with its side requests, transfers and credential forwarding),
``Execution``/``RunResult``, reconnecting and the handshake monitor. The command line and the prompt that
use it are ``remrepl.cli``.

Its public names are remrepl's (``remrepl.Session``, ``remrepl.connect``): this package imports nothing,
so ``remrepl --help`` (remrepl.cli.main) does not load the session's zmq and prompt_toolkit.
"""
