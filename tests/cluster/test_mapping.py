"""How ``map`` sizes its batches, without a cluster: the policy alone, fed with measurements."""

from __future__ import annotations

from typing import Any

from remrepl.cluster.mapping import GROWTH, MAX_BATCH_BYTES, TARGET_SECONDS, Mapper, as_items


def mapper(items: int, threads: int = 2) -> Mapper:
    return Mapper(None, abs, range(items), star=False, threads=threads, progress=False)  # type: ignore[arg-type]


def take(m: Mapper) -> int:
    size = m._batch_size()
    m.next += size
    return size


def test_first_batches_hold_one_item_then_grow_at_most_growth_fold() -> None:
    m = mapper(1_000_000)
    assert [take(m) for _ in range(4)] == [1, 1, 1, 1]  # nothing measured yet
    m._measure(1e-7, 0, 1)  # trivial items: the time target alone would allow millions
    assert take(m) == GROWTH
    m._measure(1e-7 * GROWTH, 0, GROWTH)
    assert take(m) == GROWTH**2


def test_slow_items_make_batches_of_about_the_target_time() -> None:
    m = mapper(10_000)
    take(m)
    m._measure(0.05, 0, 1)
    assert take(m) == int(TARGET_SECONDS / 0.05)


def test_the_tail_is_shared_fairly() -> None:
    m = mapper(100, threads=2)
    m.per_item, m.size = 1e-9, 10_000  # as if well measured and grown
    sizes = [take(m)]
    assert sizes == [25]  # a quarter of what is left: two batches per thread
    while m.next < 100:  # bounded: every batch takes at least one item
        sizes.append(take(m))
    assert sum(sizes) == 100 and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_big_results_cap_the_batch() -> None:
    m = mapper(1_000)
    take(m)
    m._measure(1e-6, 10_000_000, 1)  # one item made 10 MB
    assert take(m) == max(1, MAX_BATCH_BYTES // 10_000_000)


def test_items_of_several_iterables_are_argument_tuples() -> None:
    items: Any
    items, star = as_items(([1, 2, 3], "ab"))
    assert (items, star) == ([(1, "a"), (2, "b")], True)
    items, star = as_items((range(3),))
    assert (items, star) == (range(3), False)
    items, star = as_items((iter([1, 2]),))
    assert (items, star) == ([1, 2], False)


def test_source_lines_of_code_typed_at_the_prompt_come_back_whatever_file_name_cloudpickle_sent() -> None:
    """Workers lack the source of code typed at the prompt (the head's linecache has it); cloudpickle 3.1.3+
    even renames such code's file to ``<dynamic-code>``: the head maps it back by function and line, in
    every exception of a chain, and the worker's frame (``run_batch``) is not shown."""
    import linecache

    import cloudpickle

    from remrepl.cluster.mapping import _task_error, code_files, run_batch

    source = (
        "def outer(x):\n"
        "    def inner(y):\n"
        "        return {'a': 1}[y]\n"
        "    try:\n"
        "        return inner(x)\n"
        "    except KeyError:\n"
        "        raise ValueError(x)\n"
    )
    filename = "<remote-test-77>"
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    files = code_files(namespace["outer"])
    assert {(name, path) for name, _, _, path in files} == {("outer", filename), ("inner", filename)}
    # the "worker": this process without the source (as a worker has none)
    *_, failure = run_batch(cloudpickle.dumps(namespace["outer"]), cloudpickle.dumps(["a", "b"]), 0, False)
    assert failure is not None and failure["index"] == 1
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        text = _task_error(failure, files).remote_traceback
    finally:
        del linecache.cache[filename]
    assert "return inner(x)" in text and "return {'a': 1}[y]" in text and "raise ValueError(x)" in text, text
    assert f'File "{filename}", line 3, in inner' in text and "<dynamic-code>" not in text
    assert "During handling of the above exception" in text and "run_batch" not in text
    assert "mapping.py" not in text and text.endswith("ValueError: b\n")
