"""Completion and help computed in the kernel, against the user's live namespace.

Completion uses jedi (``jedi.Interpreter`` with the namespace; a dependency of remrepl, imported on the
first completion so that it costs the kernel's start nothing), and the standard-library completer
(``plain_completion``) when jedi is not importable in the kernel's interpreter or fails on the input.
On a one-line input, a bare name (``pri``, ``my_va``) and an attribute of an object known exactly (a
dotted name, a literal: ``os.path.jo``, ``"abc".up``) always take the fast standard-library path: jedi
spends ~20 ms analysing the builtins stub for a name and ~200 ms for a literal's attribute, most or all
of the latency budget of a keystroke, and adds nothing the live object's ``dir()`` does not give.
Whichever answers, a match that does not start with the text it replaces is dropped: completion may
offer nothing, never garbage.

Everything here runs in the kernel's side thread while the main thread may be running the user's code:
it reads the namespace, it never executes typed code (attribute access may run a property, as any
completer's does).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .plain_completion import (
    IMPORT,
    MAX_MATCHES,
    NAME_TAIL,
    Completion,
    complete_plain,
    exact_attributes,
    in_string,
    names,
    resolve,
)

_jedi: Any = None


def _load_jedi() -> Any:
    """jedi if importable here (once), else False."""
    global _jedi
    if _jedi is None:
        try:
            import jedi

            _jedi = jedi
        except ImportError:
            _jedi = False
    return _jedi


def complete(namespace: dict[str, Any], code: str, cursor: int, *, use_jedi: bool = True) -> Completion:
    """Candidates for ``code`` with the cursor at ``cursor``: (start, matches, kinds), where each match
    replaces ``code[start:cursor]``."""
    cursor = max(0, min(cursor, len(code)))
    before = code[:cursor]
    line = before.rsplit("\n", 1)[-1]
    if "\n" not in code:
        if _is_bare_name(line):
            return _starting_with_typed(before, names(namespace, before))
        exact = exact_attributes(namespace, before, line)
        if exact is not None:
            return _starting_with_typed(before, exact)
    jedi = _load_jedi() if use_jedi else False
    if jedi:
        try:
            return _starting_with_typed(before, _with_jedi(jedi, namespace, code, before))
        except Exception:
            pass  # jedi failed on odd input: the plain completer still has something to offer
    try:
        return _starting_with_typed(before, complete_plain(namespace, before, line))
    except Exception:  # odd input the plain completer did not foresee: no menu, never an error
        return cursor, [], []


def complete_path(typed: str, *, directories_only: bool = False) -> Completion:
    """``CompletePath``: the paths on this host that start with ``typed`` (relative to the kernel's working
    directory), whole, directories ending in ``/``; ``kinds`` say ``directory`` or ``file``."""
    from .paths import list_paths

    found = list_paths(typed, directories_only=directories_only)
    return 0, [path for path, _ in found], ["directory" if is_dir else "file" for _, is_dir in found]


def _starting_with_typed(before: str, completion: Completion) -> Completion:
    """``completion`` without the matches that do not start with the text they replace (in any case:
    jedi matches case-insensitively, as ``"abc".UP`` -> ``upper``)."""
    start, matches, kinds = completion
    typed = before[start:].lower()
    kinds = kinds if len(kinds) == len(matches) else [""] * len(matches)
    kept = [(m, k) for m, k in zip(matches, kinds, strict=True) if m.lower().startswith(typed)]
    return start, [m for m, _ in kept], [k for _, k in kept]


def _is_bare_name(line: str) -> bool:
    match = NAME_TAIL.search(line)
    if match is None or not match.group(0) or in_string(line) or IMPORT.match(line):
        return False
    head = line[: match.start()].rstrip()
    return not head.endswith((".", "def", "class"))


def _with_jedi(jedi: Any, namespace: dict[str, Any], code: str, before: str) -> Completion:
    lines = before.split("\n")
    completions = jedi.Interpreter(code, [namespace]).complete(len(lines), len(lines[-1]))
    if not completions:
        return len(before), [], []
    cursor = len(before)
    starts = [cursor - c.get_completion_prefix_length() for c in completions[:MAX_MATCHES]]
    start = min(starts)
    items = [
        (before[start:s] + c.name_with_symbols, c.type) for s, c in zip(starts, completions[:MAX_MATCHES], strict=True)
    ]
    return start, [m for m, _ in items], [k for _, k in items]


# --- help -------------------------------------------------------------------------------------------


def describe(namespace: Mapping[str, Any], name: str, detail: int = 0) -> tuple[bool, str]:
    """IPython's ``obj?`` (detail 0: type, signature, docstring) and ``obj??`` (detail 1: plus source)."""
    try:
        obj = resolve(namespace, name)
    except Exception as exc:
        return False, f"Object `{name}` not found ({type(exc).__name__}: {exc})."
    lines = [f"Type:      {type(obj).__module__}.{type(obj).__qualname__}".replace("builtins.", "")]
    try:
        form = repr(obj)
    except Exception as exc:
        form = f"<repr failed: {type(exc).__name__}>"
    lines.append(f"String:    {form if len(form) <= 200 else form[:197] + '...'}")
    if callable(obj):
        try:
            lines.append(f"Signature: {name}{inspect.signature(obj)}")
        except (TypeError, ValueError):
            pass
    try:
        lines.append(f"File:      {inspect.getfile(obj)}")
    except TypeError:
        pass
    if detail:
        try:
            lines += ["Source:", inspect.getsource(obj).rstrip("\n")]
        except (OSError, TypeError) as exc:
            lines.append(f"Source:    not available ({exc})")
    lines += ["Docstring:", inspect.getdoc(obj) or "<no docstring>"]
    return True, "\n".join(lines)
