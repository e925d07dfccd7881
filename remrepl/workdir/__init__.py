"""The user's working directory on the server: which files travel (selection, limits), the manifest that
makes re-syncs incremental, the server's per-project store, and the synced directory the kernel runs in."""
