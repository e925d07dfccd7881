"""A cluster driven from a remrepl session, as a user at ``remote>`` drives it: the map runs in the kernel,
its progress reaches the client as Progress events, and Ctrl-C (an Interrupt) cancels it cleanly."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Done, Error, Progress, Result
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers

START = """
import time, remrepl
cl = remrepl.cluster(workers=2)
"""


@pytest.fixture(scope="module")
def clustered() -> Iterator[Session]:
    """A launched server whose kernel holds a 2-worker cluster ``cl`` (shared: it takes a few seconds)."""
    launcher = LocalLauncher()
    launcher.start()
    try:
        with launcher.connect() as session:
            result = session.run(START, timeout=90)
            assert result.ok, result.stderr + str(result.error)
            yield session
            session.run("cl.close()", timeout=60)
    finally:
        launcher.close()


def test_functions_and_classes_defined_at_the_prompt_run_on_the_workers(clustered: Session) -> None:
    code = "class Box:\n    def __init__(self, v): self.v = v\n\ndef twice(b): return Box(b.v * 2)\n"
    assert clustered.run(code).ok
    result = clustered.run("[b.v for b in cl.map(twice, [Box(i) for i in range(5)])]", timeout=60)
    assert result.value == "[0, 2, 4, 6, 8]", result.stderr + str(result.error)
    assert clustered.run("cl").value is not None and "2 workers" in str(clustered.run("cl").value)


def test_a_long_map_reports_progress_events_to_the_client(clustered: Session) -> None:
    execution = clustered.execute("len(cl.map(time.sleep, [0.01] * 300))")
    events = list(execution.events(timeout=90))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress, events
    assert all(e.total == 300 and e.label == "map sleep" for e in progress)
    assert progress[-1].final and progress[-1].done == 300
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert len({e.task for e in progress}) == 1
    # the Progress events come before the result, and nothing of them went to stdout
    results = [e for e in events if isinstance(e, Result)]
    assert results and results[0].text == "300"
    assert events.index(progress[-1]) < events.index(results[0])


def test_ctrl_c_mid_map_cancels_it_and_the_cluster_stays_usable(clustered: Session) -> None:
    execution = clustered.execute("r = cl.map(time.sleep, [0.1] * 400)")
    interrupted_at: float | None = None
    done: Done | None = None
    error: Error | None = None
    for event in execution.events(timeout=90):
        if isinstance(event, Progress) and not event.final and interrupted_at is None:
            execution.interrupt()  # the map is running: Ctrl-C
            interrupted_at = time.monotonic()
        if isinstance(event, Done):
            done = event
        if isinstance(event, Error):
            error = event
    assert interrupted_at is not None and done is not None
    assert done.status == "interrupted"
    # python shows the user's line, not remrepl's map nor Dask's waiting for it
    assert error is not None and error.traceback.endswith("\nKeyboardInterrupt\n"), error
    assert frame_files(error.traceback) == ["<remote>"], error.traceback
    assert clustered.run("'r' in dir()").value == "False"
    # nothing of the cancelled map keeps the workers busy
    wait = "n = 0\nwhile sum(map(len, cl.client.processing().values())) and n < 200:\n    time.sleep(0.05); n += 1\n"
    assert clustered.run(wait, timeout=30).ok
    assert clustered.run("sum(map(len, cl.client.processing().values()))").value == "0"
    assert clustered.run("cl.map(abs, [-1, -2, -3])", timeout=60).value == "[1, 2, 3]"


def frame_files(traceback: str) -> list[str]:
    """The files of a traceback's frames, ``<remote>`` for all of the prompt's inputs."""
    return [re.sub(r"<remote-\d+>", "<remote>", name) for name in re.findall(r'^\s*File "([^"]+)"', traceback, re.M)]


def test_a_task_shows_the_users_frames_only(clustered: Session) -> None:
    """The map call in the kernel, then the mapped function on the worker: the user's code, with its
    lines (typed at the prompt, which the workers do not have), in every exception of a chain."""
    code = "def parse(x):\n    try:\n        return int(x)\n    except ValueError:\n        raise KeyError(x)\n"
    assert clustered.run(code).ok
    result = clustered.run("cl.map(parse, ['1', 'b'])", timeout=60)
    assert result.error is not None and result.error.ename == "TaskError"
    text = result.error.traceback
    assert frame_files(text) == ["<remote>"] * 3, text  # the map call; parse at int(x), at raise KeyError(x)
    assert "int(x)" in text and "raise KeyError(x)" in text and "During handling of the above exception" in text
    assert "remrepl/" not in text and "distributed" not in text, text


def test_the_users_code_that_remrepl_calls_back_shows_its_frames(clustered: Session) -> None:
    """remrepl pickles the items (cloudpickle calls the item's ``__reduce__``): the user's method shows,
    what lies between it and the map call (remrepl's, cloudpickle's) does not."""
    code = "class Unsendable:\n    def __reduce__(self):\n        raise TypeError('not this one')\n"
    assert clustered.run(code).ok
    result = clustered.run("cl.map(abs, [Unsendable()])", timeout=60)
    assert result.error is not None and result.error.ename == "ClusterError", result
    text = result.error.traceback
    assert frame_files(text) == ["<remote>", "<remote>"], text  # __reduce__, then the map call
    assert "in __reduce__" in text and "TypeError: not this one" in text
    assert "The above exception was the direct cause of the following exception" in text
    assert "remrepl/" not in text and "cloudpickle" not in text, text


def test_a_raising_task_raises_at_the_map_call_in_the_session(clustered: Session) -> None:
    result = clustered.run("cl.map(lambda x: {'a': 1, 'c': 3}[x], ['a', 'b', 'c'])", timeout=60)
    assert result.error is not None and result.error.ename == "TaskError"
    assert "item 1 ('b')" in result.error.evalue and "KeyError: 'b'" in result.error.evalue
    assert "Remote traceback" in result.error.traceback
    assert "{'a': 1, 'c': 3}[x]" in result.error.evalue  # the source line typed at the prompt


def test_workers_go_with_the_server() -> None:
    """A cluster the user never closed does not outlive the server (nor its kernel) that started it."""
    from tests.support.processes import alive

    launcher = LocalLauncher()
    launcher.start()
    try:
        with launcher.connect() as session:
            assert session.run(START, timeout=90).ok
            pids = session.run("sorted(cl.client.run(__import__('os').getpid).values())").value
            assert pids is not None
            workers = [int(p) for p in pids.strip("[]").split(",")]
            session.shutdown()
    finally:
        launcher.close()
    wait_until(lambda: not [pid for pid in workers if alive(pid)], 30, "the workers to end")
