"""pdb in the kernel as at the ``>>>`` prompt: ``breakpoint()`` and ``%debug`` see the user's frames only.

pdb asks for its commands with ``input()``, which the kernel answers from the client's terminal, so the
``(Pdb)`` prompt appears there as is. What differs from a local interpreter is the stack: above the
user's code sit the kernel's own frames, and pdb would walk into them (``up``, or ``step`` off the end
of the code). ``breakpointhook`` (installed as ``sys.breakpointhook``) starts pdb with its bottom frame
at the user's outermost frame and skips the kernel's modules; ``post_mortem`` debugs a traceback that
the kernel already cut to the user's frames. pdb is imported only when it is used.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

KERNEL_MODULES = "remrepl.server.kernel.*"  # pdb's skip: stepping never stops in the kernel's code


def _is_kernel_frame(frame: types.FrameType) -> bool:
    from .main import HIDDEN_FILES

    name = frame.f_code.co_filename
    return name in HIDDEN_FILES or name.startswith("<remrepl-")


def _outermost_user_frame(frame: types.FrameType) -> types.FrameType:
    while frame.f_back is not None and not _is_kernel_frame(frame.f_back):
        frame = frame.f_back
    return frame


def _debugger() -> Any:
    """A ``pdb.Pdb`` that stops tracing once the user's outermost frame has returned: what runs then is the
    kernel's (at ``>>>`` it would be the interpreter's C loop, which pdb never sees)."""
    import pdb

    class UserPdb(pdb.Pdb):
        def dispatch_return(self, frame: types.FrameType, arg: Any) -> Any:
            result = super().dispatch_return(frame, arg)
            if frame is self.botframe:
                sys.settrace(None)
                return None
            return result

    return UserPdb(skip=[KERNEL_MODULES])


def set_trace(frame: types.FrameType) -> None:
    """``pdb.set_trace()`` from ``frame``, its stack ending at the user's outermost frame."""
    debugger = _debugger()
    outermost = _outermost_user_frame(frame)  # before tracing starts: nothing more may run traced here
    debugger.set_trace(frame)
    debugger.botframe = outermost  # `up` stops here: "Oldest frame", as at >>>


def breakpointhook(*args: Any, **kwargs: Any) -> Any:
    """``breakpoint()``: ``PYTHONBREAKPOINT`` is honoured as by ``sys.__breakpointhook__``; the default
    (pdb) starts at the caller with the user's frames only."""
    hook = os.environ.get("PYTHONBREAKPOINT", "")
    if hook not in ("", "pdb.set_trace") or args or kwargs:
        return sys.__breakpointhook__(*args, **kwargs)
    caller = sys._getframe(1)
    set_trace(caller)
    return None


def post_mortem(tb: types.TracebackType) -> None:
    debugger = _debugger()
    debugger.reset()
    debugger.interaction(None, tb)
