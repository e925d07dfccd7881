"""remrepl.server.kernel."""
