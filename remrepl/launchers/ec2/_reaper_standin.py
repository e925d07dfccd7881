"""TODO(merge): replace with the reaper branch's ``remrepl.server.reaper.reaper_command`` (same signature).

Until that branch is merged, the launcher builds the same shell line here: the reaper started detached
(``setsid``, no terminal, output discarded) so it outlives the SSH session.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..bootstrap import shell_path


def reaper_command(
    python: str, *, idle_timeout: float | None, max_lifetime: float | None, command: Sequence[str]
) -> str:
    args = ["-m", "remrepl.server.reaper"]
    if idle_timeout is not None:
        args += ["--idle-timeout", str(idle_timeout)]
    if max_lifetime is not None:
        args += ["--max-lifetime", str(max_lifetime)]
    args += ["--command", *command]
    return f"setsid {shell_path(python)} {shlex.join(args)} </dev/null >/dev/null 2>&1 &"
