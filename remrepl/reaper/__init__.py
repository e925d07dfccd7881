"""remrepl.reaper."""
