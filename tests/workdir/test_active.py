from pathlib import Path

import pytest

from remrepl.workdir import active


def test_listeners_follow_the_current_directory_until_they_unsubscribe(monkeypatch: pytest.MonkeyPatch) -> None:
    # set first, so that undoing the delenv removes what set_current writes (a delenv of an absent
    # variable records nothing to undo, and the value would leak into later tests' servers)
    monkeypatch.setenv(active.ENV, "")
    monkeypatch.delenv(active.ENV)
    assert active.current() is None
    seen: list[Path] = []
    unsubscribe = active.on_change(seen.append)
    active.set_current(Path("/srv/a"))
    assert active.current() == Path("/srv/a")
    unsubscribe()
    active.set_current(Path("/srv/b"))
    assert seen == [Path("/srv/a")]
    assert active.current() == Path("/srv/b")
