"""``Cluster.map``: an ordered, automatically batched map over Dask futures.

Dask costs a few milliseconds per task, so one task per item is far too slow for small items; a fixed
chunk size is wrong for every workload but one. The ``Mapper`` sizes batches from what it measures: the
first batches hold one item each; each finished batch reports its compute time, and the next batch is
sized to take about ``TARGET_SECONDS`` (growing at most ``GROWTH``-fold at a time), but never more than a
fair share of what is left, so every worker has work until the end, nor (for big results) more than
about ``MAX_BATCH_BYTES`` of results, so they stream back while the workers go on. A few batches per worker thread are
kept in flight, so a worker never waits for the next one.

Failures: a lost worker is Dask's to handle (its tasks are rerun elsewhere); an exception in the user's
function ends the map with ``TaskError`` naming the item; KeyboardInterrupt (Ctrl-C) cancels what is
left. Either way, no batch of this map stays queued on the cluster.
"""

from __future__ import annotations

import functools
import math
import reprlib
import sys
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from .._exceptions import ClusterError, TaskError
from ..server.kernel.tracebacks import hands_over, hide_our_frames, traceback_exception
from .progress import ProgressReporter

if TYPE_CHECKING:
    from distributed import Client, Future

TARGET_SECONDS = 0.25  # a batch this long makes Dask's per-task cost (~2 ms) negligible (~1%)
MAX_BATCH_BYTES = 16 << 20  # big results travel in batches of about this size: they stream while others compute
GROWTH = 8  # a batch is at most this many times the previous one (a misleading first measure costs little)
IN_FLIGHT_PER_THREAD = 2  # one running, one queued behind it
_item_repr = reprlib.Repr()
_item_repr.maxstring = _item_repr.maxother = 60


@functools.lru_cache(maxsize=16)
def _load_function(blob: bytes) -> Callable[..., Any]:
    fn: Callable[..., Any] = cloudpickle.loads(blob)
    return fn


Outcome = tuple[list[Any], float, int, "dict[str, Any] | None"]  # results, compute seconds, size, failure


@hands_over  # the mapped function is the user's: its frames (and what it calls) show in a task's traceback
def run_batch(fn_blob: bytes, items_blob: bytes, start: int, star: bool) -> Outcome:
    """Runs on a worker: ``fn`` over a batch. (results, compute seconds, failure or None)."""
    fn = _load_function(fn_blob)
    items: list[Any] = cloudpickle.loads(items_blob)
    results: list[Any] = []
    began = time.perf_counter()
    for offset, item in enumerate(items):
        try:
            results.append(fn(*item) if star else fn(item))
        except Exception as exc:
            return [], time.perf_counter() - began, 0, _failure(exc, start + offset, item)
    seconds = time.perf_counter() - began
    # sys.getsizeof is shallow but cheap, and right for what big results usually are (bytes, arrays, str)
    return results, seconds, sum(map(sys.getsizeof, results)), None


def _failure(exc: BaseException, index: int, item: Any) -> dict[str, Any]:
    try:
        pickled: bytes | None = cloudpickle.dumps(exc)
    except Exception:  # an exception that cannot travel still gets its traceback home as text
        pickled = None
    hide_our_frames(exc)  # run_batch's frame (ours) goes; the user's function comes first
    report = traceback_exception(exc)
    try:  # the whole report, so the head can put back the source lines the workers lack (code typed at
        # the prompt), in every exception of a chain
        report_blob: bytes | None = cloudpickle.dumps(report)
    except Exception:
        report_blob = None
    return {
        "index": index,
        "item": _item_repr.repr(item),
        "summary": "".join(report.format_exception_only()).strip(),
        "traceback": "".join(report.format()),
        "report": report_blob,
        "exception": pickled,
    }


class Mapper:
    """One ``map`` call: submits batches, collects them in order, reports progress."""

    def __init__(
        self,
        client: Client,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        star: bool,
        threads: int,
        progress: bool = True,
        label: str = "",
    ) -> None:
        self.client = client
        self.items = items
        self.star = star
        self.window = max(1, threads) * IN_FLIGHT_PER_THREAD
        self.slots = max(1, threads)
        try:
            self.fn_blob = cloudpickle.dumps(fn)
        except Exception as exc:
            raise ClusterError(f"cannot send {_item_repr.repr(fn)} to the workers: {exc}") from exc
        self.code_files = code_files(fn)
        self.token = uuid.uuid4().hex[:12]
        name = label or getattr(fn, "__name__", "map")
        self.progress = ProgressReporter(len(items), f"map {name}", enabled=progress)
        self.next = 0
        self.size = 1
        self.per_item: float | None = None  # measured compute seconds per item
        self.bytes_per_item = 0.0  # measured result size per item
        self.in_flight: dict[Future[Any], tuple[int, int]] = {}

    def run(self) -> list[Any]:
        from distributed import as_completed

        total = len(self.items)
        results: list[Any] = [None] * total
        done = 0
        pending = as_completed(loop=self.client.loop)
        try:
            self._fill(pending)
            for future in pending:  # bounded: one pass per batch submitted
                start, count = self.in_flight.pop(future)
                out, seconds, size, failure = self._outcome(future)
                if failure is not None:
                    raise _task_error(failure, self.code_files)
                results[start : start + count] = out
                done += count
                self._measure(seconds, size, count)
                self.progress.update(done)
                self._fill(pending)
        finally:
            if self.in_flight:  # an error or Ctrl-C: nothing of this map may keep running
                self.client.cancel(list(self.in_flight))
                self.in_flight.clear()
            self.progress.close(done)
        return results

    def _outcome(self, future: Future[Any]) -> Outcome:
        if future.status == "error":
            exc = future.exception()
            hint = ""
            if isinstance(exc, ModuleNotFoundError):  # fn (or an item) was pickled by reference to its module
                hint = f" (module {exc.name!r} must be importable on the workers too, or define the code at the prompt)"
            raise ClusterError(
                f"a batch of the map could not run on the cluster: {type(exc).__name__}: {exc}{hint}"
            ) from exc
        if future.status == "cancelled":
            raise ClusterError("a batch of the map was cancelled (the cluster was closed or restarted)")
        outcome: Outcome = future.result()
        future.release()
        return outcome

    def _fill(self, pending: Any) -> None:
        while self.next < len(self.items) and len(self.in_flight) < self.window:
            count = self._batch_size()
            start = self.next
            batch = list(self.items[start : start + count])
            future = self.client.submit(
                run_batch,
                self.fn_blob,
                _pickle_batch(batch, start),
                start,
                self.star,
                key=f"remrepl-map-{self.token}-{start}",
                pure=False,
            )
            self.in_flight[future] = (start, count)
            pending.add(future)
            self.next += count

    def _batch_size(self) -> int:
        remaining = len(self.items) - self.next
        fair = max(1, math.ceil(remaining / (2 * self.slots)))  # keep work for every slot at the tail
        want = self.size if self.per_item is None else max(1, int(TARGET_SECONDS / max(self.per_item, 1e-9)))
        if self.bytes_per_item > 0:
            want = min(want, int(MAX_BATCH_BYTES / self.bytes_per_item))
        self.size = max(1, min(want, self.size * GROWTH, fair, remaining))
        return self.size

    def _measure(self, seconds: float, size: int, count: int) -> None:
        if count <= 0:
            return
        sample = seconds / count
        # a running average that follows the workload as it changes, without trusting one batch
        self.per_item = sample if self.per_item is None else 0.5 * self.per_item + 0.5 * sample
        self.bytes_per_item = max(size / count, 0.5 * self.bytes_per_item)  # quick to grow, slow to forget


def _pickle_batch(batch: list[Any], start: int) -> bytes:
    try:
        blob: bytes = cloudpickle.dumps(batch)
    except Exception as exc:
        for offset, item in enumerate(batch):  # which one: worth the retries, on this error path only
            try:
                cloudpickle.dumps(item)
            except Exception:
                raise ClusterError(
                    f"cannot send item {start + offset} ({_item_repr.repr(item)}) to the workers: {exc}"
                ) from exc
        raise ClusterError(f"cannot send items {start} to {start + len(batch) - 1} to the workers: {exc}") from exc
    return blob


def _task_error(failure: dict[str, Any], files: CodeFiles) -> TaskError:
    index, item = int(failure["index"]), str(failure["item"])
    tb = _with_source_lines(failure, files)
    message = f"the function raised for item {index} ({item}): {failure['summary']}\n\nRemote traceback:\n{tb}"
    error = TaskError(message.rstrip("\n"), index=index, item=item, remote_traceback=tb)
    if failure.get("exception"):
        try:
            error.exception = cloudpickle.loads(failure["exception"]).with_traceback(None)
        except Exception:
            pass
    return error


# (function name, first line, last line, file name) of every code object of a mapped function
CodeFiles = list[tuple[str, int, int, str]]


def code_files(fn: Callable[..., Any]) -> CodeFiles:
    """Where the code of ``fn`` (and the functions defined inside it) came from: cloudpickle 3.1.3+ sends
    dynamic functions with the file name ``<dynamic-code>``, so the head puts the real one back."""
    code = getattr(getattr(fn, "func", fn), "__code__", None)  # a function, or a functools.partial of one
    found: CodeFiles = []
    todo = [code] if isinstance(code, types.CodeType) else []
    while todo and len(found) < 1000:  # bounded: nested functions and comprehensions
        current = todo.pop()
        lines = [line for *_, line in current.co_lines() if line is not None] or [current.co_firstlineno]
        found.append((current.co_name, min(lines), max(lines), current.co_filename))
        todo.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return found


def _real_file(name: str, lineno: int, function: str, files: CodeFiles) -> str:
    if name != "<dynamic-code>":
        return name
    for code_name, first, last, filename in files:
        if code_name == function and first <= lineno <= last:
            return filename
    return name


def _with_source_lines(failure: dict[str, Any], files: CodeFiles) -> str:
    """The remote traceback, with the lines of code typed at the prompt (which only this process knows);
    the worker's own text if its report cannot be read here."""
    text = str(failure["traceback"])
    blob = failure.get("report")
    if not blob:
        return text
    try:
        report: traceback.TracebackException = cloudpickle.loads(blob)
        _fill_source_lines(report, files)
        return "".join(report.format())
    except Exception:  # a class of exception this process cannot load, a report of another Python
        return text


def _fill_source_lines(report: traceback.TracebackException, files: CodeFiles) -> None:
    """Frames without a source line (the worker had none) are looked up here, under their real file name,
    in every exception of the report (chained, or in a group)."""
    todo, count = [report], 0
    while todo and count < 1000:  # bounded: a chain or a tree of groups
        count += 1
        current = todo.pop()
        current.stack = traceback.StackSummary.from_list([_filled(frame, files) for frame in current.stack])
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(getattr(current, "exceptions", None) or [])


def _filled(frame: traceback.FrameSummary, files: CodeFiles) -> traceback.FrameSummary:
    if frame.line or frame.lineno is None:
        return frame  # the worker's line (and its carets) stand
    name = _real_file(frame.filename, frame.lineno, frame.name, files)
    positions = {key: getattr(frame, key) for key in ("end_lineno", "colno", "end_colno") if hasattr(frame, key)}
    return traceback.FrameSummary(name, frame.lineno, frame.name, **positions)


def as_items(iterables: tuple[Iterable[Any], ...]) -> tuple[Sequence[Any], bool]:
    """The items to map and whether they are argument tuples (several iterables, as builtin ``map``)."""
    if not iterables:
        raise TypeError("map() needs at least one iterable")
    if len(iterables) == 1:
        only = iterables[0]
        return (only if isinstance(only, (list, tuple, range)) else list(only)), False
    return list(zip(*iterables, strict=False)), True  # as builtin map: the shortest wins
