"""The kernel process: the user's interpreter (main), its side thread (completion, help, objects),
``!cmd`` and plots. It imports only the standard library at start, so a restart is fast."""
