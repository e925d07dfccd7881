"""remrepl.cluster.backends."""
