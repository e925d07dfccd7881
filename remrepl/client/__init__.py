"""The client: the Session API, batch ``exec``, the prompt and the command line."""

from .session import Execution, RunResult, Session, connect

__all__ = ["Execution", "RunResult", "Session", "connect"]
