"""The server (``python -m remrepl.server``, ``remrepl serve``): the supervisor process, which owns the
sockets, authentication and the session (``supervisor/``), and the kernel child process that runs the
user's code (``kernel/``)."""
