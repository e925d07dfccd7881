"""The command line, the composition root: ``remrepl`` and its commands, config.toml, and the prompt (ui)."""
