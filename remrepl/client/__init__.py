"""The client: the Session API, batch ``exec``, the prompt and the command line."""

from .execution import Execution, RunResult
from .session import Session, connect

__all__ = ["Execution", "RunResult", "Session", "connect"]
