"""remrepl.server.supervisor."""
