"""The client: the Session API, batch ``exec``, the prompt and the command line.

Its public names are remrepl's (``remrepl.Session``, ``remrepl.connect``): this package imports nothing,
so ``remrepl --help`` (remrepl.cli.main) does not load the session's zmq and prompt_toolkit.
"""
