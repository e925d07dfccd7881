"""Remote plots, the cheap half: hook matplotlib when (if ever) the user imports it.

The kernel must start fast and must not change the environment user code (and its child processes) sees,
so it neither imports matplotlib nor sets ``MPLBACKEND``. Instead ``install`` puts a one-shot finder on
``sys.meta_path``: when ``matplotlib`` is first imported, its module runs as usual and then, unless the
user chose a backend (``MPLBACKEND`` or a matplotlibrc; ``matplotlib.use`` afterwards still wins), it
selects ``module://remrepl.server.kernel.mpl_backend``: Agg drawing, and ``plt.show()`` sends each open figure
to the client as PNG (see that module). This module imports only the standard library.
"""

from __future__ import annotations

import io
import sys
import types
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import importlib.machinery

BACKEND = "module://remrepl.server.kernel.mpl_backend"
MAX_DISPLAY_BYTES = 32 << 20  # a figure bigger than this as PNG is not sent (the message cap is 64 MiB)

# display(mime, data): how the backend hands a picture to the kernel (set by ``install``)
_display: Callable[[str, bytes], None] | None = None


def display(mime: str, data: bytes) -> None:
    """Send ``data`` (e.g. a PNG) to the client as rich output of the running code."""
    if _display is None:
        raise RuntimeError("remrepl's display is only available inside a remrepl kernel")
    if len(data) > MAX_DISPLAY_BYTES:
        print(f"[remrepl: a {mime} of {len(data)} bytes is too big to send; save it to a file]", file=sys.stderr)
        return
    _display(mime, data)


class _MatplotlibFinder:
    """A meta path finder (duck-typed: importlib.abc costs start-up time) that finds nothing itself; on the
    first ``import matplotlib`` it wraps the real loader's exec_module."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "matplotlib":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # one shot, and no recursion in find_spec below
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            run_module(module)
            _choose_backend(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader object
        return spec


def _choose_backend(matplotlib: types.ModuleType) -> None:
    try:
        chosen = dict.__getitem__(matplotlib.rcParams, "backend")
        if chosen is matplotlib.rcsetup._auto_backend_sentinel:  # nobody chose: ours, as a Jupyter kernel does
            matplotlib.use(BACKEND)
    except Exception as exc:  # never break the user's import over plots
        print(f"[remrepl: remote plots are off: {type(exc).__name__}: {exc}]", file=sys.stderr)


def install(send: Callable[[str, bytes], None]) -> None:
    """Route displays to ``send`` and hook matplotlib's first import (at once if it is already loaded)."""
    global _display
    _display = send
    if "matplotlib" in sys.modules:
        _choose_backend(sys.modules["matplotlib"])
    elif not any(isinstance(f, _MatplotlibFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MatplotlibFinder())


def display_figure(figure: object) -> None:
    """Send a matplotlib figure as PNG (for a figure left as the value of the last expression)."""
    display("image/png", figure_png(figure))


def figure_png(figure: Any) -> bytes:
    """A figure as PNG bytes (a method call: matplotlib is loaded already if a figure exists)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def is_figure(value: object) -> bool:
    """Is ``value`` a matplotlib Figure? (without importing matplotlib)"""
    module = sys.modules.get("matplotlib.figure")
    return module is not None and isinstance(value, module.Figure)
