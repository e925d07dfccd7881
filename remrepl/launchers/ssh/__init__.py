"""The SSH launcher: a server started on a host over SSH (launcher), kept alive there by a keeper
process tethered to the link (keeper), watched by a link watchdog, and reattached from its record."""
