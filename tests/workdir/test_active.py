from pathlib import Path

import pytest

from remrepl.workdir import active


def test_listeners_follow_the_current_directory_until_they_unsubscribe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(active.ENV, raising=False)
    assert active.current() is None
    seen: list[Path] = []
    unsubscribe = active.on_change(seen.append)
    active.set_current(Path("/srv/a"))
    assert active.current() == Path("/srv/a")
    unsubscribe()
    active.set_current(Path("/srv/b"))
    assert seen == [Path("/srv/a")]
    assert active.current() == Path("/srv/b")
