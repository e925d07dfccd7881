"""The interactive ``remote>`` prompt (prompt_toolkit)."""

from .prompt import is_complete, make_key_bindings, make_prompt_session, private_history
from .repl import Repl

__all__ = ["Repl", "is_complete", "make_key_bindings", "make_prompt_session", "private_history"]
