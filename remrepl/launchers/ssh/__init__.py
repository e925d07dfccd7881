"""remrepl.launchers.ssh."""
