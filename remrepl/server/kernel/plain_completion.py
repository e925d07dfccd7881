"""The standard-library completer: what the kernel offers when jedi is missing or fails on the input.

It completes the current line, in this order: inside a string, a dictionary key (``d['al``) or a path
(``open('da``); an import (``import col``, ``from os import pa``); an attribute (``x.y.z``, ``"abc".up``,
``[1].ap``, ``f(x).real``); a dictionary key without a quote yet (``d[``); a name or keyword.

An attribute's owner is found without running typed code: names are looked up, attributes read
(``getattr``, which may run a property, as any completer's does), literals and displays give their value
or type (``"abc"``, ``[x]`` a list, ``f"..."`` a str), an item of a built-in container at a constant index
is read, and a call of a class gives that class; any other call, or an operator, gives nothing rather than
a guess. The expression in front of the dot is found by parsing (``ast``), so the replaced text is always
the one attribute being typed, and every match starts with it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import keyword
import pkgutil
import re
import sys
import types
from collections.abc import Mapping
from typing import Any

MAX_MATCHES = 500  # a menu is for reading: more would only cost bytes
MAX_RECEIVER_CHARS = 400  # how far back on the line the expression before a dot may start

Completion = tuple[int, list[str], list[str]]  # (start, matches, kinds)

NAME = re.compile(r"[^\W\d]\w*\Z")
# A name being typed: not the tail of an attribute, a number or a string prefix (those are handled apart)
NAME_TAIL = re.compile(r"(?<![\w.'\"\])}])[^\W\d]\w*\Z|\Z")
IMPORT = re.compile(
    r"\s*(?:from\s+(?P<module>[\w.]+)\s+import\s+(?:[\w\s,]*,\s*)?|import\s+|from\s+)(?P<name>[\w.]*)\Z"
)
_ATTRIBUTE = re.compile(r"\.\s*(?P<stem>[^\W\d]\w*|)\Z")
_KEY = re.compile(r"(?P<expr>[^\W\d][\w.]*)\[(?P<quote>['\"]?)(?P<key>[^'\"\]]*)\Z")
_PLACEHOLDER = "_remrepl_attribute"  # stands in for an attribute not typed yet (``x.``), to parse the line
_CONTAINERS = (dict, list, tuple, str, bytes)  # their item access runs no user code


def in_string(line: str) -> bool:
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


def kind(value: object) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if isinstance(value, property | types.GetSetDescriptorType):
        return "property"
    if callable(value) or isinstance(value, classmethod | staticmethod):
        return "function"
    return "instance"


def result(start: int, items: list[tuple[str, str]]) -> Completion:
    items = items[:MAX_MATCHES]
    return start, [m for m, _ in items], [k for _, k in items]


def resolve(namespace: Mapping[str, Any], dotted: str) -> Any:
    """The object ``dotted`` (``a.b.c``) names: the first part from the namespace or builtins, then
    attributes. Nothing is called and nothing is evaluated."""
    first, *rest = dotted.split(".")
    if not all(NAME.match(part) for part in (first, *rest)):
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


def complete_plain(namespace: dict[str, Any], before: str, line: str) -> Completion:
    """Candidates for the end of ``line`` (the last line of ``before``, the text before the cursor)."""
    cursor = len(before)
    if in_string(line):
        key = _KEY.search(line)
        if key and key.group("quote"):
            return _keys(namespace, cursor, key)
        return _string_paths(cursor, line)
    imported = IMPORT.match(line)
    if imported:
        return _imports(cursor, imported.group("module"), imported.group("name"))
    attribute = _ATTRIBUTE.search(line)
    if attribute:
        return _attributes(namespace, cursor, line, attribute)
    key = _KEY.search(line)
    if key and not key.group("key"):
        return _keys(namespace, cursor, key)
    return names(namespace, before)


def names(namespace: Mapping[str, Any], before: str) -> Completion:
    """Keywords, the namespace's names and builtins that start with the name before the cursor."""
    prefix = (NAME_TAIL.search(before) or NAME_TAIL.search("")).group(0)  # type: ignore[union-attr]
    if not prefix and before[-1:] and (before[-1].isalnum() or before[-1] in "_'\")]}"):
        return len(before), [], []  # right after a number, a string or a bracket no name can go
    found: dict[str, str] = {}
    for name in keyword.kwlist:
        if name.startswith(prefix):
            found[name] = "keyword"
    for source in (namespace, vars(builtins)):
        for name, value in list(source.items()):
            if name.startswith(prefix) and name not in found and (prefix.startswith("_") or not name.startswith("_")):
                found[name] = kind(value)
    return result(len(before) - len(prefix), sorted(found.items()))


# --- attributes ---------------------------------------------------------------------------------

_EXACT: tuple[type[ast.expr], ...] = (ast.Name, ast.Attribute, ast.Constant, ast.JoinedStr, ast.List, ast.ListComp)
_EXACT += (ast.Tuple, ast.Dict, ast.DictComp, ast.Set, ast.SetComp)


def exact_attributes(namespace: Mapping[str, Any], before: str, line: str) -> Completion | None:
    """The attributes being typed at the end of ``line`` when their owner is known exactly without jedi:
    a live object named by a dotted name (``os.path.jo``), or a literal or display (``"abc".up``,
    ``[1].ap``), whose ``dir()`` is the truth; None otherwise (a call, an item, anything inferred), and
    for imports and strings. Jedi takes ~200 ms on a literal's attribute (it reads the builtins' stubs)."""
    if in_string(line) or IMPORT.match(line):
        return None
    attribute = _ATTRIBUTE.search(line)
    if attribute is None:
        return None
    receiver = _receiver(line + ("" if attribute.group("stem") else _PLACEHOLDER))
    node: ast.expr | None = receiver
    while isinstance(node, ast.Attribute):
        node = node.value
    if node is None or not isinstance(node, _EXACT):
        return None
    return _attributes(namespace, len(before), line, attribute)


def _attributes(namespace: Mapping[str, Any], cursor: int, line: str, attribute: re.Match[str]) -> Completion:
    stem = attribute.group("stem")
    receiver = _receiver(line + ("" if stem else _PLACEHOLDER))
    if receiver is None:
        return cursor, [], []
    try:
        owner = _evaluate(namespace, receiver)
        listed = dir(owner)
    except Exception:  # a name that is not there, an attribute that raised, a __dir__ that did
        return cursor, [], []
    # As rlcompleter: "_" shows the private names but not the special ones, "__" shows those too
    hidden = "_" if not stem else "__" if stem == "_" else None
    items = []
    for name in listed:
        if isinstance(name, str) and name.startswith(stem) and not (hidden and name.startswith(hidden)):
            try:
                static = inspect.getattr_static(owner, name)  # never runs a property to say what it is
            except AttributeError:
                static = None
            items.append((name, kind(static)))
    return result(cursor - len(stem), sorted(items))


def _receiver(line: str) -> ast.expr | None:
    """The expression whose attribute ends ``line``: the longest tail of the line that parses as an
    attribute access (``a + b.c``: ``b``; ``f(x).y``: ``f(x)``; ``1.x``, which Python reads as a float
    and a name, none)."""
    first = max(0, len(line) - MAX_RECEIVER_CHARS)
    for start in range(first, len(line)):
        if line[start].isspace() or (start > 0 and (line[start - 1].isalnum() or line[start - 1] == "_")):
            continue  # an expression starts after a space, a bracket or an operator, not mid-word
        try:
            tree = ast.parse(line[start:], mode="eval")
        except (SyntaxError, ValueError):
            continue
        if isinstance(tree.body, ast.Attribute):
            return tree.body.value
    return None


def _evaluate(namespace: Mapping[str, Any], node: ast.expr) -> Any:
    """The value (or, for a display or a call of a class, the type) that ``node`` stands for, without
    running typed code; raises when it cannot tell."""
    if isinstance(node, ast.Name):
        return resolve(namespace, node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(namespace, node.value), node.attr)
    if isinstance(node, ast.Constant):
        return node.value
    displays: dict[type, Any] = {
        ast.JoinedStr: str,
        ast.List: list,
        ast.ListComp: list,
        ast.Tuple: tuple,
        ast.Dict: dict,
        ast.DictComp: dict,
        ast.Set: set,
        ast.SetComp: set,
        ast.GeneratorExp: types.GeneratorType,
    }
    if type(node) in displays:
        return displays[type(node)]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        container = _evaluate(namespace, node.value)
        if type(container) in _CONTAINERS:
            return container[node.slice.value]
    if isinstance(node, ast.Call):
        called = _evaluate(namespace, node.func)
        if isinstance(called, type):
            return called  # an instance's attributes are mostly its class's
    raise ValueError("cannot tell what the expression is without running it")


# --- keys, paths and imports --------------------------------------------------------------------


def _keys(namespace: dict[str, Any], cursor: int, match: re.Match[str]) -> Completion:
    try:
        mapping = resolve(namespace, match.group("expr"))
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
    return result(cursor - len(typed) - len(quote), sorted(items))


def _string_paths(cursor: int, line: str) -> Completion:
    """Files and directories on this (the remote) host; a file closes the string, as jedi does."""
    from .paths import list_paths

    quote = line[max(line.rfind("'"), line.rfind('"'))]
    typed = re.split(r"['\"]", line)[-1]
    stem = typed[typed.rfind("/") + 1 :]
    items = [(path[len(typed) - len(stem) :] + ("" if is_dir else quote), "path") for path, is_dir in list_paths(typed)]
    return result(cursor - len(stem), items)


def _imports(cursor: int, module: str | None, name: str) -> Completion:
    if module:  # from MODULE import NAME: its attributes, or its submodules
        loaded = sys.modules.get(module)
        candidates = dict.fromkeys(_submodules(module), "module")
        if loaded is not None:
            for attribute in dir(loaded):
                if attribute.startswith(name) and not attribute.startswith("_"):
                    candidates[attribute] = kind(getattr(loaded, attribute, None))
        return result(cursor - len(name), sorted((c, k) for c, k in candidates.items() if c.startswith(name)))
    parent, _, stem = name.rpartition(".")
    found = _submodules(parent) if parent else [*sys.builtin_module_names, *(m.name for m in pkgutil.iter_modules())]
    prefix = parent + "." if parent else ""
    visible = (n for n in found if n.startswith(stem) and (stem.startswith("_") or not n.startswith("_")))
    return result(cursor - len(name), [(prefix + n, "module") for n in sorted(set(visible))])


def _submodules(package: str) -> list[str]:
    """The modules ``import package.X`` can name: a package's submodules, and the modules a plain
    module holds as attributes (``os.path``)."""
    module = sys.modules.get(package)
    if module is None:
        try:
            module = importlib.import_module(package)  # importing is what the user is about to do anyway
        except Exception:
            return []
    path = getattr(module, "__path__", None)
    if path is not None:
        return [m.name for m in pkgutil.iter_modules(path)]
    return [n for n, v in list(vars(module).items()) if sys.modules.get(f"{package}.{n}") is v]
