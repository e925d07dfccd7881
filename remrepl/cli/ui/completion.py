"""Completion at the ``remote>`` prompt, computed by the remote kernel, never blocking the keyboard.

``RemoteCompleter`` asks ``Session.complete`` (the session's side connection; the kernel answers from a
thread of its own, so also while a run keeps it busy). The prompt wraps it in prompt_toolkit's
``ThreadedCompleter``: requests run in a worker thread and typing goes on meanwhile. Stale answers are
dropped twice over: a request whose text the user has changed before its turn came is not sent at all,
and prompt_toolkit ignores the result of a completion for a document that is no longer the current one.
Magic names (``%...``) complete locally.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ..._exceptions import RemreplError
from ...client.session import Session

COMPLETE_TIMEOUT = 5.0  # the menu gives up on a server that does not answer; typing was never blocked


class RemoteCompleter(Completer):
    def __init__(
        self,
        session: Session,
        magic_names: Callable[[], Iterable[str]] = tuple,
        local_names: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.session = session
        self.magic_names = magic_names
        self.local_names = local_names
        self._latest: tuple[str, int] | None = None
        self._lock = threading.Lock()  # guards _latest
        self._request = threading.Lock()  # one request at a time, so the stale check below means something

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text, cursor = document.text, document.cursor_position
        before = document.text_before_cursor
        if before.lstrip().startswith("%"):
            words = before.split()
            if len(words) == 1 and not before[-1:].isspace():
                yield from _starting_with(words[0], self.magic_names())  # the magic's name
            elif words[0] == "%put" and len(words) + before[-1:].isspace() == 2:
                yield from _starting_with(words[-1] if len(words) == 2 else "", self.local_names())
            elif words[0] == "%get" and len(words) == 2 and not before[-1:].isspace():
                yield from self._remote(words[1], len(words[1]))  # a remote name: complete it on its own
            return
        if before.lstrip().startswith("!") or not before.strip():
            return  # a shell command, or nothing typed yet
        if complete_event.completion_requested is False and not (before[-1:].isalnum() or before[-1:] in "._"):
            return  # while typing, complete words and attributes, not after every space or bracket
        yield from self._remote(text, cursor)

    def _remote(self, text: str, cursor: int) -> Iterable[Completion]:
        with self._lock:
            self._latest = (text, cursor)
        with self._request:
            with self._lock:
                if self._latest != (text, cursor):
                    return  # the user typed on while an earlier request was out: this one is stale
            try:
                reply = self.session.complete(text, cursor, timeout=COMPLETE_TIMEOUT)
            except RemreplError:
                return  # a slow or gone server costs the menu, never the line being typed
        kinds = reply.kinds or ("",) * len(reply.matches)
        for match, kind in zip(reply.matches, kinds, strict=False):
            yield Completion(match, start_position=reply.start - cursor, display_meta=kind)


def _starting_with(word: str, names: Iterable[str]) -> Iterable[Completion]:
    for name in sorted(names):
        if name.startswith(word) and not name.startswith("_"):
            yield Completion(name, start_position=-len(word))
