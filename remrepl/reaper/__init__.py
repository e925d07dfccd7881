"""The reaper: ends an idle or too-old cloud machine by itself (``python -m remrepl.reaper``), from the
server's activity marks, without ever talking to the server."""
