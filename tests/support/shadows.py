"""A working directory full of traps: a module file named after every standard-library module, each of
which leaves a mark and fails loudly if anything imports it (a user's ``random.py`` or ``json.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

MARK = "imported-"


def shadow_stdlib(directory: Path) -> list[str]:
    """A ``NAME.py`` in ``directory`` for every name in ``sys.stdlib_module_names`` (a module file shadows a
    package of the same name too: the directory comes first on a path that has it); the names."""
    names = sorted(sys.stdlib_module_names)  # top-level names only, every one an identifier (__future__ too)
    for name in names:
        mark = directory / f"{MARK}{name}"
        # open() is a builtin: the mark is left even where the SystemExit is swallowed
        (directory / f"{name}.py").write_text(
            f"open({str(mark)!r}, 'w').close()\nraise SystemExit('user module {name} imported')\n"
        )
    return names


def imported(directory: Path) -> list[str]:
    """The names whose trap in ``directory`` went off."""
    return sorted(p.name.removeprefix(MARK) for p in directory.glob(f"{MARK}*"))


def modules_from(directory: Path) -> str:
    """Code that evaluates (in a session) to the sorted names of loaded modules whose file is in
    ``directory``; it imports only ``sys`` (builtin: no file can shadow it)."""
    where = str(directory) + "/"
    return (
        "import sys\n"
        "sorted(n for n, m in list(sys.modules.items())\n"
        f"       if (getattr(m, '__file__', None) or '').startswith({where!r}))"
    )
