"""cache.atomic_path: a private temporary name in the target's folder, renamed into place."""
import numpy as np
import pytest

from astronn_paper import cache


def test_atomic_path_writes_a_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "x.h5"
    with cache.atomic_path(target) as tmp:
        assert tmp.parent.parent == target.parent and tmp.name == "x.h5"   # same file system
        assert tmp.parent.name.endswith(".tmp") and not tmp.exists()
        tmp.write_bytes(b"abc")
        assert not target.exists()                        # a reader never sees it half-written
    assert target.read_bytes() == b"abc"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.h5"]


def test_two_writers_of_one_target_do_not_share_a_temporary_name(tmp_path):
    target = tmp_path / "x.json"
    with cache.atomic_path(target) as a, cache.atomic_path(target) as b:
        assert a != b
        a.write_text("first")
        b.write_text("second")
    assert target.read_text() == "first"                  # the outer block ends last
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_failed_block_removes_the_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_folder_replaces_a_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale").write_text("1")
    with cache.atomic_path(target, suffix=".tmp.dir") as tmp:
        tmp.mkdir()
        (tmp / "weights").write_text("2")
    assert [p.name for p in target.iterdir()] == ["weights"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_chunk_dir_removes_what_a_killed_writer_left(tmp_path):
    chunks = cache.ChunkDir(tmp_path / "work", {"n": 1})
    assert chunks.open() is False
    chunks.write(0, {"a": np.arange(3)})
    (chunks.folder / ".chunk_000001.npz.abc.tmp").mkdir()            # as atomic_path makes it
    assert chunks.open() is True
    assert sorted(p.name for p in chunks.folder.iterdir()) == ["chunk_000000.npz", "plan.json"]
