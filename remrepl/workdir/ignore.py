"""The gitignore pattern language as git itself reads and matches it (``dir.c``, ``wildmatch.c``).

One ignore file's lines become ``Rule``s; ``decide`` answers for one path *itself* (a file, or a
directory), never through one of its parents: git's walk asks about each directory once and never
enters an excluded one, and a caller walking as git does needs exactly that answer. (pathspec, the usual
library, answers for files given their parents' matches: it cannot tell ``b/``, ``b/**`` and ``b/**/``
apart for the directory ``b``, which decides whether ``!b/keep`` can bring a file back.)

Matching is on bytes, as git's: ``?`` is one byte, ``[a-z]`` a range of bytes; a path that is no valid
UTF-8 is its file-system bytes (``os.fsencode``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# POSIX classes of wildmatch.c (ASCII, as git's ctype), as byte ranges
_CLASSES: dict[str, list[tuple[int, int]]] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "blank": [(0x20, 0x20), (0x09, 0x09)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_SLASH = ord("/")


@dataclass(frozen=True)
class Rule:
    """One pattern line: ``regex`` matches the whole name (the basename when ``basename_only``, else the
    path relative to the ignore file's directory); ``negated`` for ``!``; ``directories_only`` for a
    trailing ``/``."""

    regex: re.Pattern[bytes]
    negated: bool
    directories_only: bool
    basename_only: bool


def parse(lines: Iterable[str | bytes]) -> list[Rule]:
    """The rules of an ignore file's lines, in order; blank lines, comments and patterns git could never
    match (an unclosed ``[``, a trailing ``\\``) are left out."""
    rules = []
    for line in lines:
        raw = os.fsencode(line) if isinstance(line, str) else line
        rule = _rule(raw.rstrip(b"\n"))
        if rule is not None:
            rules.append(rule)
    return rules


def decide(rules: Sequence[Rule], relative: str, is_dir: bool) -> bool | None:
    """True if ``relative`` (a path relative to the rules' directory) is excluded, False if a ``!``
    pattern takes it back, None if no pattern speaks of it: the last matching pattern decides."""
    path = os.fsencode(relative)
    basename = path.rpartition(b"/")[2]
    for rule in reversed(rules):
        if rule.directories_only and not is_dir:
            continue
        if rule.regex.fullmatch(basename if rule.basename_only else path):
            return not rule.negated
    return None


def anchored_line(path: str, *, directory: bool = False) -> str:
    """The ignore-file line that means exactly ``path`` (relative to the file's directory): anchored with
    a leading ``/`` (so a ``#`` or ``!`` in front is no comment or negation), wildcards, backslashes and a
    trailing space escaped: a message can quote it as the fix."""
    escaped = re.sub(r"([\\*?\[])", r"\\\1", path)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return f"/{escaped}/" if directory else f"/{escaped}"


def _rule(line: bytes) -> Rule | None:
    """``dir.c``'s add_patterns_from_buffer and parse_path_pattern, for one line."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line or line.startswith(b"#"):
        return None
    line = _trim_trailing_spaces(line)
    negated = line.startswith(b"!")
    if negated:
        line = line[1:]
    directories_only = line.endswith(b"/")
    if directories_only:
        line = line[:-1]
    basename_only = b"/" not in line
    if not basename_only and line.startswith(b"/"):
        line = line[1:]
    if not line:
        return None
    regex = _translate(line, pathname=not basename_only)
    return Rule(regex, negated, directories_only, basename_only) if regex is not None else None


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Trailing spaces go, unless escaped (``\\ ``); a line ending in a lone backslash is kept whole."""
    last_space = None
    i = 0
    while i < len(line):
        char = line[i]
        if char == 0x20:
            if last_space is None:
                last_space = i
        elif char == 0x5C:  # backslash: the next byte is literal
            i += 1
            if i == len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line[:last_space] if last_space is not None else line


def _translate(pattern: bytes, *, pathname: bool) -> re.Pattern[bytes] | None:
    """wildmatch with WM_PATHNAME as a regex: ``*`` and ``?`` never match ``/``; ``**`` between slashes
    (or at an end) matches across them, ``**/`` zero or more directories; None if it can never match.

    A path pattern's literal prefix (up to its first wildcard) is compared apart by git's
    match_pathname, and the rest wildmatched on its own: so a ``**`` right after that prefix (``a**/b``)
    counts as one at the start of a pattern."""
    out: list[bytes] = []
    i, n = 0, len(pattern)
    first_wildcard = next((k for k, char in enumerate(pattern) if char in b"*?[\\"), n) if pathname else 0
    while i < n:
        char = pattern[i]
        if char == 0x2A:  # *
            j = i
            while j < n and pattern[j] == 0x2A:
                j += 1
            at_start = i == 0 or pattern[i - 1] == _SLASH or i == first_wildcard
            if j - i >= 2 and at_start and (j == n or pattern[j] == _SLASH):
                if j == n:
                    out.append(b".*")
                else:
                    out.append(b"(?:.*/)?")  # "**/": zero or more directories, the slash with them
                    j += 1
            elif j - i >= 2 and at_start and pattern[j : j + 2] == b"\\/":
                out.append(b".*")  # "**\\/": across slashes, but no shortcut for zero directories
            else:
                out.append(b"[^/]*")
            i = j
        elif char == 0x3F:  # ?
            out.append(b"[^/]")
            i += 1
        elif char == 0x5B:  # [
            translated = _bracket(pattern, i)
            if translated is None:
                return None
            expression, i = translated
            out.append(expression)
        elif char == 0x5C:  # backslash
            if i + 1 == n:
                return None
            out.append(re.escape(pattern[i + 1 : i + 2]))
            i += 2
        else:
            out.append(re.escape(pattern[i : i + 1]))
            i += 1
    return re.compile(b"".join(out), re.DOTALL)


def _bracket(pattern: bytes, start: int) -> tuple[bytes, int] | None:
    """The class at ``pattern[start] == '['``, as wildmatch.c reads it: ``!`` or ``^`` negates, a first
    ``]`` is literal, ``a-z`` ranges, ``[:alpha:]`` classes; never ``/``. Returns (regex, index after it),
    or None when it is malformed (git's WM_ABORT_ALL: the pattern never matches)."""
    n = len(pattern)
    p = start + 1
    if p < n and pattern[p] in b"!^":
        negated = True
        p += 1
    else:
        negated = False
    ranges: list[tuple[int, int]] = []
    previous: int | None = None
    first = True
    while first or (p < n and pattern[p] != 0x5D):
        first = False
        if p >= n:
            return None
        char = pattern[p]
        if char == 0x5C:  # escaped byte
            p += 1
            if p >= n:
                return None
            char = pattern[p]
            ranges.append((char, char))
            previous = char
        elif char == 0x2D and previous is not None and p + 1 < n and pattern[p + 1] != 0x5D:  # a range
            p += 1
            high = pattern[p]
            if high == 0x5C:
                p += 1
                if p >= n:
                    return None
                high = pattern[p]
            if previous <= high:
                ranges.append((previous, high))
            previous = None
        elif char == 0x5B and p + 1 < n and pattern[p + 1] == 0x3A:  # [:class:]
            end = pattern.find(b"]", p + 2)
            if end < 0:
                return None
            if end - 1 < p + 2 or pattern[end - 1] != 0x3A:  # no ":]": a literal "["
                ranges.append((char, char))
                previous = char
            else:
                name = pattern[p + 2 : end - 1].decode("ascii", errors="replace")
                if name not in _CLASSES:
                    return None
                ranges.extend(_CLASSES[name])
                previous = None
                p = end
        else:
            ranges.append((char, char))
            previous = char
        p += 1
    if p >= n:  # no closing "]"
        return None
    body = b"".join(b"\\x%02x-\\x%02x" % pair if pair[0] != pair[1] else b"\\x%02x" % pair[0] for pair in ranges)
    if negated:
        return b"[^/" + body + b"]", p + 1
    return (b"(?!/)[" + body + b"]" if body else b"(?!)"), p + 1
