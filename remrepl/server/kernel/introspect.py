"""Completion and help computed in the kernel, against the user's live namespace.

Completion uses jedi (``jedi.Interpreter`` with the namespace) when it is importable in the kernel's
interpreter, and the standard library otherwise (``rlcompleter`` for names and attributes, plus imports,
dictionary keys and file paths). A bare name on a one-line input (``pri``, ``my_va``) always takes the
fast standard-library path: jedi spends ~20 ms analysing the builtins stub for it, which would be most of
the latency budget of a keystroke, and adds nothing a namespace lookup does not give on one line.

Everything here runs in the kernel's side thread while the main thread may be running the user's code:
it reads the namespace, it never executes typed code (attribute access may run a property, as any
completer's does).
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import keyword
import os
import pkgutil
import re
import sys
import types
from collections.abc import Mapping
from typing import Any

MAX_MATCHES = 500  # a menu is for reading: more would only cost bytes
_NAME = re.compile(r"[^\W\d]\w*\Z")
_NAME_TAIL = re.compile(r"(?<![\w.'\"\])}])[^\W\d]\w*\Z|\Z")
_DOTTED_TAIL = re.compile(r"(?:[^\W\d]\w*\.)*\w*\Z")
_IMPORT = re.compile(
    r"\s*(?:from\s+(?P<module>[\w.]+)\s+import\s+(?:[\w\s,]*,\s*)?|import\s+|from\s+)(?P<name>[\w.]*)\Z"
)
_KEY = re.compile(r"(?P<expr>[^\W\d][\w.]*)\[(?P<quote>['\"]?)(?P<key>[^'\"\]]*)\Z")

Completion = tuple[int, list[str], list[str]]  # (start, matches, kinds)

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
    if "\n" not in code and _is_bare_name(line):
        return _names(namespace, before)
    jedi = _load_jedi() if use_jedi else False
    if jedi:
        try:
            return _with_jedi(jedi, namespace, code, before)
        except Exception:
            pass  # jedi failed on odd input: the plain completer still has something to offer
    return _plain(namespace, before, line)


def _in_string(line: str) -> bool:
    """Whether the end of ``line`` is inside a string literal (quotes counted, escapes honoured)."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif line.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch == "#":
            return False
        elif ch in "'\"":
            quote = ch * 3 if line.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        i += 1
    return bool(quote)


def _is_bare_name(line: str) -> bool:
    match = _NAME_TAIL.search(line)
    if match is None or not match.group(0) or _in_string(line) or _IMPORT.match(line):
        return False
    head = line[: match.start()].rstrip()
    return not head.endswith((".", "def", "class"))


def _kind(value: object) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if callable(value):
        return "function"
    return "instance"


def _names(namespace: Mapping[str, Any], before: str) -> Completion:
    prefix = (_NAME_TAIL.search(before) or _NAME_TAIL.search("")).group(0)  # type: ignore[union-attr]
    found: dict[str, str] = {}
    for name in keyword.kwlist:
        if name.startswith(prefix):
            found[name] = "keyword"
    for source in (namespace, vars(builtins)):
        for name, value in list(source.items()):
            if name.startswith(prefix) and name not in found and (prefix.startswith("_") or not name.startswith("_")):
                found[name] = _kind(value)
    return _result(len(before) - len(prefix), sorted(found.items()))


def _result(start: int, items: list[tuple[str, str]]) -> Completion:
    items = items[:MAX_MATCHES]
    return start, [m for m, _ in items], [k for _, k in items]


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


# --- the standard-library completer -------------------------------------------------------------


def _plain(namespace: dict[str, Any], before: str, line: str) -> Completion:
    cursor = len(before)
    if _in_string(line):
        key = _KEY.search(line)
        if key and key.group("quote"):
            return _keys(namespace, cursor, key)
        return _paths(cursor, line)
    imported = _IMPORT.match(line)
    if imported:
        return _imports(cursor, imported.group("module"), imported.group("name"))
    key = _KEY.search(line)
    if key:
        return _keys(namespace, cursor, key)
    token = _DOTTED_TAIL.search(line)
    text = token.group(0) if token else ""
    if "." not in text:
        return _names(namespace, before)
    import rlcompleter

    completer = rlcompleter.Completer(namespace)
    matches: list[str] = []
    for state in range(MAX_MATCHES):
        try:
            match = completer.complete(text, state)
        except Exception:
            break  # a property that raised, a name that is not there
        if match is None:
            break
        matches.append(match.removesuffix("()").removesuffix("("))
    head = text.rsplit(".", 1)[0]
    try:
        owner = _resolve(namespace, head)
    except Exception:
        owner = None
    kinds = [_kind(getattr(owner, m.rsplit(".", 1)[1], None)) if owner is not None else "" for m in matches]
    return cursor - len(text), matches, kinds


def _keys(namespace: dict[str, Any], cursor: int, match: re.Match[str]) -> Completion:
    try:
        mapping = _resolve(namespace, match.group("expr"))
    except Exception:
        return cursor, [], []
    if not isinstance(mapping, Mapping):
        return cursor, [], []
    quote, typed = match.group("quote"), match.group("key")
    items = []
    for k in list(mapping.keys())[: MAX_MATCHES * 4]:
        if isinstance(k, str) and k.startswith(typed):
            q = quote or "'"
            items.append((f"{q}{k}{q}", "key"))
        elif not quote and isinstance(k, int | float) and str(k).startswith(typed):
            items.append((repr(k), "key"))
    return _result(cursor - len(typed) - len(quote), sorted(items))


def _paths(cursor: int, line: str) -> Completion:
    """Files and directories on this (the remote) host; a file closes the string, as jedi does."""
    quote = line[max(line.rfind("'"), line.rfind('"'))]
    typed = re.split(r"['\"]", line)[-1]
    directory, stem = os.path.split(typed)
    try:
        entries = sorted(os.listdir(os.path.expanduser(directory) or "."))
    except OSError:
        return cursor, [], []
    items = []
    for name in entries:
        if name.startswith(stem) and (stem.startswith(".") or not name.startswith(".")):
            is_dir = os.path.isdir(os.path.join(os.path.expanduser(directory) or ".", name))
            items.append((name + ("/" if is_dir else quote), "path"))
    return _result(cursor - len(stem), items)


def _imports(cursor: int, module: str | None, name: str) -> Completion:
    if module:  # from MODULE import NAME: its attributes, or its submodules
        candidates = set(_submodules(module))
        loaded = sys.modules.get(module)
        if loaded is not None:
            candidates.update(n for n in dir(loaded) if not n.startswith("_"))
        return _result(cursor - len(name), sorted((c, "module") for c in candidates if c.startswith(name)))
    parent, _, stem = name.rpartition(".")
    names = _submodules(parent) if parent else [*sys.builtin_module_names, *(m.name for m in pkgutil.iter_modules())]
    prefix = parent + "." if parent else ""
    visible = (n for n in names if n.startswith(stem) and (stem.startswith("_") or not n.startswith("_")))
    found = sorted({prefix + n for n in visible})
    return _result(cursor - len(name), [(f, "module") for f in found])


def _submodules(package: str) -> list[str]:
    module = sys.modules.get(package)
    if module is None:
        try:
            module = importlib.import_module(package)  # importing is what the user is about to do anyway
        except Exception:
            return []
    path = getattr(module, "__path__", None)
    return [m.name for m in pkgutil.iter_modules(path)] if path is not None else []


# --- help -------------------------------------------------------------------------------------------


def _resolve(namespace: Mapping[str, Any], dotted: str) -> Any:
    """The object ``dotted`` (``a.b.c``) names: the first part from the namespace or builtins, then
    attributes. Nothing is called and nothing is evaluated."""
    first, *rest = dotted.split(".")
    if not all(_NAME.match(part) for part in (first, *rest)):
        raise NameError(f"not a dotted name: {dotted!r}")
    if first in namespace:
        obj = namespace[first]
    elif hasattr(builtins, first):
        obj = getattr(builtins, first)
    else:
        raise NameError(f"name {first!r} is not defined")
    for part in rest:
        obj = getattr(obj, part)
    return obj


def describe(namespace: Mapping[str, Any], name: str, detail: int = 0) -> tuple[bool, str]:
    """IPython's ``obj?`` (detail 0: type, signature, docstring) and ``obj??`` (detail 1: plus source)."""
    try:
        obj = _resolve(namespace, name)
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
