"""SSH, on paramiko: the link (ssh_config, agent, jump hosts), pinned host keys, port tunnels, commands
run on a host, the user's own keys, and installing remrepl in a host's venv (bootstrap)."""
