"""EC2 head nodes: the launcher, its readiness stages, settings and signal handling (the AWS layer is remrepl.aws)."""
