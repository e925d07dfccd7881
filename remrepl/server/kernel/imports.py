"""The kernel's import path: its own imports never come from the user's directory, user code's do.

The supervisor starts the kernel with a safe path (``_files.python_command``: the working directory is
dropped from ``sys.path`` before ``remrepl`` is imported), so everything the kernel loads at start is
remrepl's own and the standard library's. Then ``open_for_user`` puts at ``sys.path[0]`` what python's
``>>>`` prompt has there: ``''``, the working directory (nothing in safe-path mode, ``PYTHONSAFEPATH`` or
``-I``, as python then adds nothing), so user code imports a ``helper.py`` (or its own ``json.py``) from
it exactly as at the prompt. So that its own ``json.py`` is also what ``import json`` gives user code (as
at ``>>>``, where only what python loaded at start-up wins over the directory), the modules the kernel
loaded for itself that a file there shadows are taken out of ``sys.modules`` (``hide_shadowed``): the
kernel's code keeps its references to them, user code gets its own files.

The kernel imports more later, while that entry is on the path: the side thread loads introspection, jedi
and cloudpickle on first use, which import more on their own; the main thread formats tracebacks
(``traceback`` may import ``unicodedata`` then). ``OwnImports``, a meta path finder before the path
finder, makes those *top-level* imports (a package's submodules come from the package's own directory)
look only in the start-up path while the kernel runs its own code (and get back a module it hid, not a
second copy): a user's ``inspect.py`` never becomes jedi's, and a name only the user's directory has
(``winreg.py`` on Linux) is not found, as a library's ``try: import winreg`` expects. What they loaded
is hidden from user code too before its next run (``before_user_code``). While user code runs, imports
are left alone; the main thread's own imports during user code (``!CMD``'s module) are done at start
instead (``PRELOAD``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# What kernel code imports in the main thread while user code runs (and so with the user's path):
# ``!CMD`` (``remrepl.server.kernel.shell`` and its subprocess), the matplotlib hook's importlib.util.
PRELOAD = ("importlib.util", "remrepl.server.kernel.shell")

_own_threads: set[int] = set()  # the kernel's own threads (the side thread): their imports are the kernel's
_finder: OwnImports | None = None


class OwnImports:
    """A meta path finder (duck-typed: importlib.abc costs start-up time) for the kernel's own top-level
    imports: only the start-up path ``path``. ``main_is_own()``: whether the main thread runs the kernel's
    code now (not the user's)."""

    def __init__(self, path: Sequence[str], main_is_own: Callable[[], bool]) -> None:
        self.path = list(path)
        self.main_is_own = main_is_own

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self._own():
            return None  # user code's import: the usual search
        if fullname in _hidden:  # the kernel's own module, hidden from user code: the same one back
            module = _hidden.pop(fullname)
            _own_loaded.add(fullname.partition(".")[0])
            loader: Any = _Hidden(module)  # a loader by duck typing (importlib.abc costs start-up time)
            return importlib.machinery.ModuleSpec(fullname, loader, is_package=hasattr(module, "__path__"))
        if path is not None:
            return None  # a submodule: found in its package's directory
        spec = importlib.machinery.PathFinder.find_spec(fullname, self.path, target)
        if spec is not None:
            _own_loaded.add(fullname)  # hidden from user code before its next run, if the directory shadows it
            return spec
        added = [entry for entry in sys.path if entry not in self.path]  # the user's directory, mostly
        if added and importlib.machinery.PathFinder.find_spec(fullname, added, target) is not None:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)  # only the user's has it
        return None  # other finders (an editable install's) may know it

    def _own(self) -> bool:
        if threading.get_ident() in _own_threads:
            return True
        return threading.current_thread() is threading.main_thread() and self.main_is_own()


class _Hidden:
    """The loader that gives back a module as it is (``__spec__`` too, which the import replaced)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec


_hidden: dict[str, types.ModuleType] = {}  # modules hidden from user code, by name
_own_loaded: set[str] = set()  # top-level modules the kernel's own code loaded since user code last ran
_entry: str | None = None  # what was put at sys.path[0] for user code (None: nothing)


def _startup_modules() -> set[str]:
    """What the interpreter loaded before this kernel's code (sys.modules keeps the order of loading; the
    safe-path prologue imports nothing new, so remrepl is the first module of ours)."""
    names = set()
    for name in sys.modules:
        if name == "remrepl" or name.startswith("remrepl."):
            break
        names.add(name)
    return names


def hide_shadowed(names: set[str]) -> None:
    """Take the top-level modules ``names`` that a file in the user's entry shadows (the builtin and frozen
    ones cannot be) out of ``sys.modules``, with their submodules: user code imports its own, as at ``>>>``."""
    if _entry is None:
        return
    shadowed = set()
    for name in names:
        module = sys.modules.get(name)
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if module is None or name in ("__main__", "remrepl") or origin in ("built-in", "frozen"):
            continue
        if importlib.machinery.PathFinder.find_spec(name, [_entry]) is not None:
            shadowed.add(name)
    if shadowed:
        for name in list(sys.modules):
            if name.partition(".")[0] in shadowed:
                _hidden[name] = sys.modules.pop(name)


def before_user_code() -> None:
    """User code runs next: what the kernel's own code loaded since (completion, help) and a file in the
    user's directory shadows is hidden now (see ``hide_shadowed``). A few set operations when nothing was."""
    global _own_loaded
    if _own_loaded:
        names, _own_loaded = _own_loaded, set()
        hide_shadowed(names)


def preload() -> None:
    """Import ``PRELOAD`` now, while the path is the start-up one."""
    for name in PRELOAD:
        importlib.import_module(name)


def open_for_user(main_is_own: Callable[[], bool], entry: str = "") -> None:
    """Guard the kernel's later imports (``OwnImports``), then put ``entry`` (``''``: the working directory,
    as at ``>>>``) at ``sys.path[0]`` for user code, unless python itself would not (safe-path mode)."""
    global _finder, _entry
    preload()
    _finder = OwnImports(sys.path, main_is_own)
    finders = sys.meta_path
    where = next((i for i, f in enumerate(finders) if f is importlib.machinery.PathFinder), len(finders))
    finders.insert(where, _finder)  # after the builtin and frozen importers: those cannot be shadowed
    if not (sys.flags.isolated or getattr(sys.flags, "safe_path", False)):  # no safe_path flag before 3.11
        _entry = entry
        startup = _startup_modules()
        hide_shadowed({name for name in sys.modules if "." not in name and name not in startup})
        sys.path.insert(0, entry)


def own_thread() -> None:
    """The calling thread is the kernel's own (for the rest of its life): its imports are the kernel's."""
    _own_threads.add(threading.get_ident())


@contextmanager
def as_user() -> Iterator[None]:
    """Imports in the block are user code's (unpickling a ``%put`` object imports the user's modules)."""
    ident = threading.get_ident()
    own = ident in _own_threads
    _own_threads.discard(ident)
    try:
        yield
    finally:
        if own:
            _own_threads.add(ident)


def move_entry(entry: str) -> None:
    """A script run (``script.py``): ``python FILE`` has the script's directory ``entry`` at ``sys.path[0]``,
    not the working directory. What was hidden for a file in the working directory comes back, what a file
    in ``entry`` shadows is hidden instead. Nothing in safe-path mode (python adds no directory then)."""
    global _entry
    if _entry is None:
        return
    for name, module in _hidden.items():
        sys.modules.setdefault(name, module)
    _hidden.clear()
    if _entry in sys.path:
        sys.path[sys.path.index(_entry)] = entry
    else:
        sys.path.insert(0, entry)
    _entry = entry
    startup = _startup_modules()
    hide_shadowed({name for name in sys.modules if "." not in name and name not in startup})
