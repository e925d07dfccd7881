"""The user's packages: what a project declares (requirements.txt, pyproject.toml, uv.lock), installed
with uv (pip as the fallback) into an interpreter, cached by the hash of what was asked."""
