"""The supervisor process: the server's sockets, authentication, sessions, replay, transfers and
the kernel it supervises. It never runs user code."""
