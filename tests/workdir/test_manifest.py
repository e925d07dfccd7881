"""The manifest of a tree: hashes, modes, a digest that names the tree, the compact JSON form, the diff
between two trees, and the hash cache (which must never hand out a stale hash: the racy-git rule)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest

from remrepl._exceptions import WorkdirError
from remrepl.workdir.manifest import RACY_NS, Entry, HashCache, Manifest, build_manifest, diff
from remrepl.workdir.select import select_files

SHA_A = "a" * 64


def write(root: Path, path: str, data: bytes, *, age: float = 60.0) -> Path:
    """A file whose modification time is ``age`` seconds ago (old enough for the cache, by default)."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    then = time.time_ns() - int(age * 1e9)
    os.utime(target, ns=(then, then))
    return target


def rewrite_in_place(target: Path, data: bytes) -> None:
    """New content of the same size in the same inode, with the old modification time put back: what
    the cache cannot see (and, within the timestamp granularity, what a quick editor can do)."""
    before = target.stat()
    assert len(data) == before.st_size
    with open(target, "r+b") as file:
        file.write(data)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_manifest_holds_size_mode_and_hash_and_follows_links_inside_the_tree(tmp_path: Path) -> None:
    write(tmp_path, "train.py", b"print(1)\n")
    write(tmp_path, "bin/run.sh", b"#!/bin/sh\n").chmod(0o750)
    write(tmp_path, "data/blob", os.urandom(3 << 20))  # several reads
    (tmp_path / "alias.py").symlink_to("train.py")
    manifest = build_manifest(tmp_path, select_files(tmp_path))
    by_path = manifest.by_path()
    assert sorted(by_path) == ["alias.py", "bin/run.sh", "data/blob", "train.py"]
    assert by_path["train.py"] == Entry("train.py", 9, 0o644, hashlib.sha256(b"print(1)\n").hexdigest())
    assert by_path["alias.py"].sha256 == by_path["train.py"].sha256
    assert by_path["bin/run.sh"].mode == 0o755  # the executable bit is kept, nothing else
    blob = (tmp_path / "data" / "blob").read_bytes()
    assert by_path["data/blob"].sha256 == hashlib.sha256(blob).hexdigest()
    assert manifest.total_size == 9 + 9 + 10 + len(blob)


def test_the_digest_names_the_content_whatever_the_order(tmp_path: Path) -> None:
    one = Manifest((Entry("b", 1, 0o644, SHA_A), Entry("a", 2, 0o755, SHA_A)))
    two = Manifest((Entry("a", 2, 0o755, SHA_A), Entry("b", 1, 0o644, SHA_A)))
    assert one == two and one.digest == two.digest and [e.path for e in one.entries] == ["a", "b"]
    assert len(one.digest) == 64
    others = [
        Manifest((Entry("a", 2, 0o644, SHA_A), Entry("b", 1, 0o644, SHA_A))),  # a mode
        Manifest((Entry("a", 2, 0o755, "b" * 64), Entry("b", 1, 0o644, SHA_A))),  # a hash
        Manifest((Entry("a", 2, 0o755, SHA_A), Entry("c", 1, 0o644, SHA_A))),  # a name
        Manifest((Entry("a", 2, 0o755, SHA_A),)),  # a file fewer
    ]
    assert len({one.digest, *(other.digest for other in others)}) == 5
    assert Manifest(()).total_size == 0


def test_the_json_form_is_compact_and_reads_back(tmp_path: Path) -> None:
    manifest = Manifest((Entry("dir/é.txt", 3, 0o644, SHA_A), Entry("run", 0, 0o755, "0" * 64)))
    text = manifest.to_json()
    assert text == f'[["dir/\\u00e9.txt",3,420,"{SHA_A}"],["run",0,493,"{"0" * 64}"]]'
    again = Manifest.from_json(text)
    assert again == manifest and again.digest == manifest.digest
    assert Manifest.from_json(text.encode()) == manifest
    # the digest is defined on this text, so the other end can check a manifest it was sent
    assert manifest.digest == hashlib.sha256(b"remrepl-manifest-1\n" + text.encode()).hexdigest()


@pytest.mark.parametrize(
    "rows",
    [
        "not json",
        {"a": 1},
        [["a", 1, 0o644]],
        [["/etc/passwd", 1, 0o644, SHA_A]],
        [["../up", 1, 0o644, SHA_A]],
        [["a//b", 1, 0o644, SHA_A]],
        [["a/./b", 1, 0o644, SHA_A]],
        [["", 1, 0o644, SHA_A]],
        [["a\0b", 1, 0o644, SHA_A]],
        [["a", -1, 0o644, SHA_A]],
        [["a", True, 0o644, SHA_A]],
        [["a", 1, 0o4755, SHA_A]],
        [["a", 1, 0o644, "A" * 64]],
        [["a", 1, 0o644, SHA_A], ["a", 1, 0o644, SHA_A]],
        [["a", 1, 0o644, SHA_A], ["a/b", 1, 0o644, SHA_A]],  # a is a file and a directory
    ],
)
def test_a_bad_manifest_is_refused(rows: object) -> None:
    text = rows if isinstance(rows, str) else json.dumps(rows)
    with pytest.raises(WorkdirError):
        Manifest.from_json(text)


def test_the_diff_sends_what_changed_and_deletes_what_went() -> None:
    old = Manifest(
        (
            Entry("same", 1, 0o644, SHA_A),
            Entry("edited", 1, 0o644, SHA_A),
            Entry("chmodded", 1, 0o644, SHA_A),
            Entry("gone", 1, 0o644, SHA_A),
        )
    )
    new = Manifest(
        (
            Entry("same", 1, 0o644, SHA_A),
            Entry("edited", 2, 0o644, "b" * 64),
            Entry("chmodded", 1, 0o755, SHA_A),
            Entry("added", 5, 0o644, "c" * 64),
        )
    )
    send, delete = diff(old, new)
    assert [entry.path for entry in send] == ["added", "chmodded", "edited"]
    assert delete == ["gone"]
    assert diff(new, new) == ([], [])
    assert diff(Manifest(()), new) == (list(new.entries), [])


def test_a_cached_hash_is_used_without_reading_the_file(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "proj"
    target = write(root, "model.py", b"version 1\n")
    cache = HashCache.for_root(root)
    first = build_manifest(root, ["model.py"], cache)
    cache.save()
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.path.parent == state_dir / "hashcache"
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600

    rewrite_in_place(target, b"version 2\n")  # the cache cannot tell: so its old answer proves no read
    cache = HashCache.for_root(root)
    assert build_manifest(root, ["model.py"], cache) == first
    assert (cache.hits, cache.misses) == (1, 0)
    assert build_manifest(root, ["model.py"]).by_path()["model.py"].sha256 == hashlib.sha256(b"version 2\n").hexdigest()

    os.utime(target)  # a change the cache can see: the file is read again
    cache = HashCache.for_root(root)
    assert build_manifest(root, ["model.py"], cache).by_path()["model.py"].sha256 != first.entries[0].sha256
    assert (cache.hits, cache.misses) == (0, 1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_cached_file_made_unreadable_is_not_read(tmp_path: Path) -> None:
    target = write(tmp_path, "a.txt", b"content\n")
    cache = HashCache(tmp_path / "cache.json", tmp_path)
    build_manifest(tmp_path, ["a.txt"], cache)
    cache.save()
    target.chmod(0)  # changes the ctime only, which the cache does not look at
    try:
        cache = HashCache(tmp_path / "cache.json", tmp_path)
        assert build_manifest(tmp_path, ["a.txt"], cache).entries[0].size == 8
        with pytest.raises(WorkdirError, match="cannot read"):
            build_manifest(tmp_path, ["a.txt"])
    finally:
        target.chmod(0o644)


def test_a_file_modified_just_before_its_hashing_is_not_trusted_next_time(tmp_path: Path) -> None:
    """The racy-git rule: a write right after the read can keep size, mtime and inode (a coarse clock),
    so a hash taken within RACY_NS of the file's mtime is re-checked on the next scan."""
    root = tmp_path / "proj"
    target = write(root, "hot.py", b"state A\n", age=0)  # just written
    cold = write(root, "cold.py", b"quiet\n", age=RACY_NS / 1e9 + 5)
    cache = HashCache(tmp_path / "cache.json", root)
    build_manifest(root, ["hot.py", "cold.py"], cache)
    cache.save()
    saved = json.loads((tmp_path / "cache.json").read_text())["entries"]
    assert sorted(saved) == ["cold.py"]  # the racy file is not kept

    rewrite_in_place(target, b"state B\n")  # same size, mtime and inode: invisible but for the rule
    rewrite_in_place(cold, b"QUIET\n")  # old enough to trust: (the cache's answer proves it was not read)
    cache = HashCache(tmp_path / "cache.json", root)
    manifest = build_manifest(root, ["hot.py", "cold.py"], cache).by_path()
    assert manifest["hot.py"].sha256 == hashlib.sha256(b"state B\n").hexdigest()
    assert manifest["cold.py"].sha256 == hashlib.sha256(b"quiet\n").hexdigest()
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_cache_forgets_what_is_gone_and_shrugs_off_a_damaged_file(tmp_path: Path) -> None:
    write(tmp_path, "a", b"1")
    write(tmp_path, "b", b"2")
    cache = HashCache(tmp_path / "c.json", tmp_path)
    build_manifest(tmp_path, ["a", "b"], cache)
    cache.save()
    cache = HashCache(tmp_path / "c.json", tmp_path)
    build_manifest(tmp_path, ["a"], cache)
    cache.save()
    assert sorted(json.loads((tmp_path / "c.json").read_text())["entries"]) == ["a"]
    for damage in ("{not json", '{"version": 1, "root": "/elsewhere", "entries": {}}', '{"version": 1}'):
        (tmp_path / "c.json").write_text(damage)
        cache = HashCache(tmp_path / "c.json", tmp_path)
        assert build_manifest(tmp_path, ["a"], cache).entries[0].size == 1
        assert cache.misses == 1


def test_each_root_has_its_own_cache(tmp_path: Path) -> None:
    assert HashCache.for_root(tmp_path / "a").path != HashCache.for_root(tmp_path / "b").path
    assert HashCache.for_root(tmp_path / "a").path == HashCache.for_root(tmp_path / "x" / ".." / "a").path


def test_a_file_gone_since_the_selection_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, "kept", b"1")
    assert [entry.path for entry in build_manifest(tmp_path, ["kept", "vanished"]).entries] == ["kept"]


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_an_unreadable_file_is_named_with_the_way_to_leave_it_out(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file that not even root can read from its start (EIO): an unreadable
    # file for any user. (select_files would never list it: the link leaves the tree.)
    (tmp_path / "stuck.bin").symlink_to("/proc/self/mem")
    with pytest.raises(WorkdirError) as caught:
        build_manifest(tmp_path, ["stuck.bin"])
    message = str(caught.value)
    assert "cannot read" in message and str(tmp_path / "stuck.bin") in message
    assert f"'/stuck.bin' in {tmp_path / '.remreplignore'}" in message and "--no-workdir" in message


def test_a_cache_that_cannot_be_written_says_where(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    cache = HashCache(tmp_path / "not-a-dir" / "c.json", tmp_path)
    with pytest.raises(WorkdirError, match=r"cannot write the hash cache .*not-a-dir"):
        cache.save()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["not-a-dir"]
