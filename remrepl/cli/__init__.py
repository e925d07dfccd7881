"""remrepl.cli."""
