"""A cache directory that cannot be used (a file in its place, no write permission, a read-only
file system) falls back to a private temporary directory with one warning naming
TILEDSL_CACHE_DIR, for every cache user: Triton modules, TileLang programs, autotune results.

Tests run as root, where chmod does not stop writes: unwritable and read-only are simulated by
monkeypatching `os.access` and the file-creating calls for paths under the bad directory."""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

import tiledsl as td
import tiledsl.settings as s
from tiledsl.tune.cache import TuneCache, TuneKey


@td.kernel
def double(x: td.Tensor, out: td.Tensor, BLOCK: td.constexpr = 64):
    n = x.shape[0]
    with td.grid(td.cdiv(n, BLOCK)) as pid:
        t = td.load(x, (pid * BLOCK,), (BLOCK,))
        td.store(out, (pid * BLOCK,), t * 2)


KEY = TuneKey("abc", ((64,),), ("f32",), "H100", (("tiledsl", "0"),))


@pytest.fixture
def cache_at(monkeypatch):
    """Point the settings at a directory and forget every earlier cache-dir decision."""
    monkeypatch.setattr(s, "_usable", {})
    monkeypatch.setattr(s, "_fallback", None)

    def point(path: Path) -> None:
        monkeypatch.setattr(s, "_current", s.Settings(cache_dir=path))
    return point


def _under(path, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _use_every_cache(block: int) -> list[Path]:
    """Run a kernel through Triton on CPU, write a TileLang program, store a tuning result;
    return the directories each used. A `block` of its own per test gives a module source no
    earlier test loaded, so the module file is really written."""
    from tiledsl.lowering.tilelang import build
    from tiledsl.lowering.triton.loader import module_path

    x = torch.randn(200)
    out = torch.empty(200)
    double(x, out, BLOCK=block, backend="triton")
    torch.testing.assert_close(out, x * 2)
    lowered = double.compile(x, out, BLOCK=block, backend="triton").lowered
    assert module_path(lowered.interpret_source).exists()  # the module a CPU call imports
    src = double.compile(x, out, BLOCK=block, backend="tilelang").code("tilelang")
    program = build.artifact_path("double", src, ".py")
    program.write_text(src)
    tuned = TuneCache().put(KEY, {"BLOCK": 64})
    assert TuneCache().get(KEY) == {"BLOCK": 64}
    return [module_path("x").parent, program.parent, tuned.parent]


def _one_warning(caught) -> str:
    msgs = [str(w.message) for w in caught if issubclass(w.category, s.CacheDirWarning)]
    assert len(msgs) == 1, msgs
    assert "TILEDSL_CACHE_DIR" in msgs[0]
    return msgs[0]


def test_a_writable_cache_is_used_without_warning(tmp_path, cache_at):
    cache_at(tmp_path / "cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dirs = _use_every_cache(16)
    assert not [w for w in caught if issubclass(w.category, s.CacheDirWarning)]
    assert all(_under(d, tmp_path / "cache") for d in dirs)
    assert {d.name for d in dirs} == {"triton", "tilelang", "autotune"}


def test_a_file_in_place_of_the_cache_dir(tmp_path, cache_at):
    bad = tmp_path / "cache"
    bad.write_text("not a directory")
    cache_at(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dirs = _use_every_cache(32)
    assert str(bad) in _one_warning(caught)
    assert not any(_under(d, bad) for d in dirs)
    assert all(_under(d, Path(tempfile.gettempdir())) for d in dirs)
    assert bad.read_text() == "not a directory"


def test_a_file_in_place_of_a_sub_directory(tmp_path, cache_at):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "triton").write_text("a file")
    (tmp_path / "cache" / "tilelang").write_text("a file")
    cache_at(tmp_path / "cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dirs = _use_every_cache(128)
    _one_warning(caught)
    assert not _under(dirs[0], tmp_path / "cache") and not _under(dirs[1], tmp_path / "cache")
    assert _under(dirs[2], tmp_path / "cache")  # autotune's own sub-directory is fine


def test_an_unwritable_cache_dir(tmp_path, cache_at, monkeypatch):
    bad = tmp_path / "locked"
    bad.mkdir()
    os.chmod(bad, 0o500)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if _under(p, bad) and mode & os.W_OK
                        else real_access(p, mode, **kw))
    cache_at(bad)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dirs = _use_every_cache(256)
        assert "not writable" in _one_warning(caught)
        assert not any(_under(d, bad) for d in dirs)
    finally:
        os.chmod(bad, 0o700)


def test_a_read_only_file_system(tmp_path, cache_at, monkeypatch):
    bad = tmp_path / "ro"
    bad.mkdir()

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    real_mkstemp, real_mkdir = tempfile.mkstemp, Path.mkdir
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, dir=None, **kw: refuse() if dir and _under(dir, bad)
                        else real_mkstemp(*a, dir=dir, **kw))
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **kw: refuse() if _under(self, bad)
                        else real_mkdir(self, *a, **kw))
    cache_at(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dirs = _use_every_cache(512)
    assert "Read-only file system" in _one_warning(caught)
    assert not any(_under(d, bad) for d in dirs)
    assert list(bad.iterdir()) == []


def test_the_fallback_is_decided_once(tmp_path, cache_at):
    bad = tmp_path / "cache"
    bad.write_text("x")
    cache_at(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = s.usable_cache_dir("triton")
        assert s.usable_cache_dir("triton") == first
        assert s.usable_cache_dir("autotune").parent == first.parent
    _one_warning(caught)
