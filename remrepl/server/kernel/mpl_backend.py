"""Remote plots, the matplotlib backend (``module://remrepl.server.kernel.mpl_backend``): Agg drawing, and
``plt.show()`` sends every open figure to the client as PNG, then closes them (as Jupyter's inline
backend does). Imported only by matplotlib, once the user's code has imported it.
"""

from __future__ import annotations

from typing import Any

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .plots import display, figure_png

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    managers = Gcf.get_all_fig_managers()
    try:
        for manager in managers:
            display("image/png", figure_png(manager.canvas.figure))
    finally:
        Gcf.destroy_all()
