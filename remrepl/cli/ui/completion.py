"""Completion at the ``remote>`` prompt, computed by the remote kernel, never blocking the keyboard.

``RemoteCompleter`` asks ``Session.complete`` (the session's side connection; the kernel answers from a
thread of its own, so also while a run keeps it busy). The prompt wraps it in prompt_toolkit's
``ThreadedCompleter``: requests run in a worker thread and typing goes on meanwhile. Stale answers are
dropped twice over: a request whose text the user has changed before its turn came is not sent at all,
and prompt_toolkit ignores the result of a completion for a document that is no longer the current one.
A line that starts with ``%`` goes to the ``MagicCompleter`` (``magic_completion.py``): magic names
locally, and each magic's arguments by kind, from the sources wired here: remote paths
(``Session.complete_path``), local paths and the local namespace, remote code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ..._exceptions import RemreplError
from ...client.session import Session
from ...protocol.side import Completions
from .magic_completion import ArgumentSources, MagicCompleter

COMPLETE_TIMEOUT = 5.0  # the menu gives up on a server that does not answer; typing was never blocked


class RemoteCompleter(Completer):
    def __init__(
        self,
        session: Session,
        magic_names: Callable[[], Iterable[str]] = tuple,
        local_names: Callable[[], Iterable[str]] = tuple,
        local_namespace: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.session = session
        self.local_namespace = local_namespace
        self._latest: tuple[object, ...] | None = None
        self._lock = threading.Lock()  # guards _latest
        self._request = threading.Lock()  # one request at a time, so the stale check below means something
        sources = ArgumentSources(
            remote_paths=self._remote_paths,
            local_paths=_local_paths,
            remote_code=self._remote_code,
            local_code=self._local_code,
            local_names=local_names,
        )
        self.magics = MagicCompleter(sources, magic_names)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text, cursor = document.text, document.cursor_position
        before = document.text_before_cursor
        if before.lstrip().startswith("%"):
            yield from self.magics.get_completions(document, complete_event)
            return
        if before.lstrip().startswith("!") or not before.strip():
            return  # a shell command, or nothing typed yet
        if _typing_on(before, complete_event):
            return
        yield from self._remote(text, cursor)

    def _remote_code(self, code: str, complete_event: CompleteEvent) -> Iterable[Completion]:
        """Completions of ``code`` (a magic's Python argument, the cursor at its end) by the kernel."""
        if (code.strip() or complete_event.completion_requested) and not _typing_on(code, complete_event):
            yield from self._remote(code, len(code))

    def _remote(self, text: str, cursor: int) -> Iterable[Completion]:
        reply = self._ask((text, cursor), lambda: self.session.complete(text, cursor, timeout=COMPLETE_TIMEOUT))
        if reply is None:
            return
        kinds = reply.kinds or ("",) * len(reply.matches)
        for match, kind in zip(reply.matches, kinds, strict=False):
            yield Completion(match, start_position=reply.start - cursor, display_meta=kind)

    def _remote_paths(self, typed: str, directories_only: bool) -> list[tuple[str, bool]]:
        reply = self._ask(
            ("path", typed, directories_only),
            lambda: self.session.complete_path(typed, directories_only=directories_only, timeout=COMPLETE_TIMEOUT),
        )
        if reply is None:
            return []
        kinds = reply.kinds or ("",) * len(reply.matches)
        return [(path, kind == "directory") for path, kind in zip(reply.matches, kinds, strict=False)]

    def _ask(self, key: tuple[object, ...], request: Callable[[], Completions]) -> Completions | None:
        """``request()``'s answer, or None when it is stale (another was asked for since) or failed."""
        with self._lock:
            self._latest = key
        with self._request:
            with self._lock:
                if self._latest != key:
                    return None  # the user typed on while an earlier request was out: this one is stale
            try:
                return request()
            except RemreplError:
                return None  # a slow, gone or older server costs the menu, never the line being typed

    def _local_code(self, code: str, complete_event: CompleteEvent) -> Iterable[Completion]:
        """``%local CODE``: completed against the local namespace, here (the kernel's completer, run locally)."""
        if not code.strip() or _typing_on(code, complete_event):
            return
        from ...server.kernel.introspect import complete

        start, matches, kinds = complete(self.local_namespace(), code, len(code))
        for match, kind in zip(matches, kinds, strict=False):
            yield Completion(match, start_position=start - len(code), display_meta=kind)


def _typing_on(before: str, complete_event: CompleteEvent) -> bool:
    """While typing (not Tab), words and attributes complete, not every space or bracket."""
    return complete_event.completion_requested is False and not (before[-1:].isalnum() or before[-1:] in "._")


def _local_paths(typed: str, directories_only: bool) -> list[tuple[str, bool]]:
    from ...server.kernel.paths import list_paths  # the same listing the server makes of its paths

    return list_paths(typed, directories_only=directories_only)
