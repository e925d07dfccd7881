"""Making what the kernel sends fit the protocol: valid text, and bounded fields.

Text from the kernel is untrusted: it may hold lone surrogates (a file name that is not UTF-8, as
``os.fsdecode`` makes it) and be of any size. At the boundary every string is made valid UTF-8 the way
Python's own stderr prints such text (``backslashreplace``), and every text field of an event is cut
to fit the codec's header limit, with a marker saying how much was left out and where the rest is.
Reprs are never cut: one too big for a header goes out whole, as stdout chunks (``result_pieces``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _encode_ascii  # what json.dumps uses: C, quick

from ...protocol.codec import MAX_HEADER_BYTES
from ...protocol.message_codec import valid_text as valid_text  # re-exported: the supervisor's text rule

# Worst case of JSON's ensure_ascii: a code point outside the BMP becomes two \\uXXXX escapes.
_MAX_ESCAPE = 12
FIELD_BUDGET = MAX_HEADER_BYTES // 4  # encoded bytes one text field may take (a traceback, a prompt)
SMALL_BUDGET = 4096  # a label, a MIME type, a task name
RESULT_BUDGET = MAX_HEADER_BYTES // 2  # a repr sent as a Result; bigger ones go as stdout chunks
RESULTS_BUDGET = MAX_HEADER_BYTES // 2  # all the reprs riding in one Done
STREAM_PIECE = 1 << 20  # bytes per stdout chunk of a big repr (a binary frame: no header cost)


def encoded_size(text: str) -> int:
    """Bytes ``text`` takes in a JSON header (cheap for text too short to matter)."""
    if len(text) * _MAX_ESCAPE <= SMALL_BUDGET:
        return len(text) * _MAX_ESCAPE
    return len(json.dumps(text))


def clip(text: str, budget: int, what: str, rest: str = "") -> str:
    """``text`` if it fits ``budget`` encoded bytes; else its start and end around a marker saying how
    many characters of ``what`` were left out, and ``rest``: where to find them (if anywhere)."""
    size = encoded_size(text)
    if size <= budget:
        return text
    keep = len(text) * budget // size // 2  # characters kept at each end (proportional, then checked)
    for _ in range(8):  # bounded: each try halves what is kept
        left_out = len(text) - 2 * keep
        marker = f"\n[remrepl: {left_out:,} characters of this {what} were left out{rest}]\n"
        clipped = text[:keep] + marker + text[len(text) - keep :]
        if encoded_size(clipped) <= budget:
            return clipped
        keep //= 2
    return f"[remrepl: this {what} of {len(text):,} characters was left out{rest}]"


def batches(texts: list[str]) -> Iterator[list[str] | str]:
    """``texts`` in order, as lists that fit one Result (``Result.more``), and alone (a ``str``) each
    repr too big for one, to be sent as stdout (``result_pieces``)."""
    batch: list[str] = []
    size = 0
    for text in texts:
        cost = len(_encode_ascii(text)) + 1  # its JSON, and a comma
        if cost > RESULT_BUDGET:
            if batch:
                yield batch
                batch, size = [], 0
            yield text
            continue
        if size + cost > RESULT_BUDGET and batch:
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += cost
    if batch:
        yield batch


def result_pieces(text: str) -> list[bytes]:
    """A repr too big for a Result, as the stdout bytes ``python`` would print for it, in pieces."""
    data = (text + "\n").encode("utf-8", "backslashreplace")
    return [data[i : i + STREAM_PIECE] for i in range(0, len(data), STREAM_PIECE)]


def fits_done(texts: list[str]) -> bool:
    """Can these reprs ride in one Done (or must they go as events of their own first)?"""
    chars = sum(len(t) + 3 for t in texts)  # the text, its quotes and a comma
    if chars * _MAX_ESCAPE <= RESULTS_BUDGET:
        return True  # the common case (``1+1``): no need to encode
    return chars <= RESULTS_BUDGET and len(json.dumps(texts)) <= RESULTS_BUDGET
