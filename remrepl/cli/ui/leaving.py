"""What leaving the prompt does to the server for this launch, as data the prompt is given.

Ctrl-D, ``exit()`` / ``quit()`` (any ``SystemExit`` out of code typed at the prompt, as at ``>>>``) and
``%exit`` all leave the same way; what that means for the server depends on how ``connect`` reached it,
which only the command line knows (``cli/commands.py`` builds this). The banner and ``%help`` say it.
"""

from __future__ import annotations

from dataclasses import dataclass

KEYS = "Ctrl-D or exit()"  # how the banner names the ways out (%exit, quit() and sys.exit() do the same)


@dataclass(frozen=True)
class Leaving:
    """``stops_server``: the server was launched for this prompt without ``--keep``, and leaving stops
    it. ``kept_launch``: launched with ``--keep``: leaving saves it as a session and leaves it running.
    ``session``: the name of the session the server keeps running as, when known (``connect NAME``, a
    session record as ``--connection-file``, ``--launch --keep --name NAME``). Neither flag: a server
    that runs on its own (``remrepl serve``, a kept session): leaving detaches from it."""

    stops_server: bool = False
    kept_launch: bool = False
    session: str | None = None

    def describe(self) -> str:
        """What leaving does, after "Ctrl-D or exit() " (or after "%exit: ")."""
        if self.stops_server:
            return "leaves and stops the server (it was launched for this session without --keep)"
        if self.session is not None:
            return (
                f"detaches: the server keeps running as session {self.session} "
                f"(`remrepl connect {self.session}` comes back)"
            )
        if self.kept_launch:
            return "detaches: the server keeps running as a session (`remrepl ls` lists it)"
        return "detaches: the server, its namespace and any run keep going"
