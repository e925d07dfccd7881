"""Remote plots through the API: matplotlib is hooked when the user imports it (not before, and without
touching the environment), ``plt.show()`` and a figure left as the last expression arrive as PNG."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Display

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

PNG = b"\x89PNG\r\n\x1a\n"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\n"


def test_the_kernel_starts_without_matplotlib_and_without_new_environment(session: Session) -> None:
    result = session.run("import os, sys\n'matplotlib' in sys.modules, os.environ.get('MPLBACKEND')")
    assert result.value == "(False, None)"
    session.run(PLOT)
    assert session.run("repr(os.environ.get('MPLBACKEND'))").value == "'None'"  # what child processes inherit


def test_plt_show_sends_each_figure_as_png_then_closes_them(session: Session) -> None:
    result = session.run(
        "import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1, 2])\nplt.figure(); plt.plot([2, 1])\n"
        "print('before'); plt.show(); print('after')\nlen(plt.get_fignums())"
    )
    assert result.ok, result.error
    assert [d.mime for d in result.displays] == ["image/png", "image/png"]
    assert all(d.data.startswith(PNG) for d in result.displays)
    assert result.stdout == "before\nafter\n" and result.value == "0"
    assert result.results[0].startswith("<Figure size")  # an empty figure echoes its repr, as in python
    assert (
        session.run("import matplotlib; matplotlib.get_backend()").value
        == "'module://remrepl.server.kernel.mpl_backend'"
    )


def test_a_figure_left_as_the_last_expression_is_shown_not_repred(session: Session) -> None:
    result = session.run("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n_ = ax.plot([3, 1])\nfig")
    assert result.results == [] and len(result.displays) == 1 and result.displays[0].data.startswith(PNG)


def test_output_order_plot_between_prints(session: Session) -> None:
    execution = session.execute("print('one')\n" + PLOT + "print('two')\n", mode="script")
    kinds = [type(e).__name__ for e in execution if type(e).__name__ in ("Stream", "Display")]
    assert kinds == ["Stream", "Display", "Stream"]


@pytest.fixture
def agg_launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalLauncher]:
    monkeypatch.setenv("MPLBACKEND", "agg")  # the user's own choice, inherited by the server and its kernel
    launched = LocalLauncher()
    launched.start()
    yield launched
    launched.close()


def test_a_backend_the_user_chose_is_respected(agg_launcher: LocalLauncher) -> None:
    with agg_launcher.connect() as session:
        result = session.run(PLOT + "import matplotlib; matplotlib.get_backend()")
        assert result.value == "'agg'" and result.displays == []


def test_a_plot_made_while_detached_is_replayed(launcher: LocalLauncher) -> None:
    with launcher.connect() as session:
        session.run("import threading, time")
        session.run(
            "import matplotlib.pyplot as plt\n"
            "threading.Thread(target=lambda: (time.sleep(0.5), plt.plot([1]), plt.show(), print('drawn'))).start()"
        )
    with launcher.connect() as again:
        events: list[object] = []
        while not any(getattr(e, "data", b"") == b"drawn\n" for e in events):
            event = again.next_event(10)
            assert event is not None, events
            events.append(event)
        assert any(isinstance(e, Display) and e.data.startswith(PNG) for e in events)
