"""remrepl.ssh."""
