"""The server: a supervisor process (sockets, authentication, sessions) and a kernel child process."""
