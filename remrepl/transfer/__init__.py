"""remrepl.transfer."""
