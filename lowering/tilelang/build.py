"""Generated program text -> ``T.prim_func`` -> TileLang's CUDA C -> (with nvcc) PTX, cubin, report.

TileLang parses a prim_func from its source file, so the program is written to the cache (named
by the hash of its text) and imported from there. tilelang itself is imported here, on first use:
it takes seconds, and nothing else in tiledsl needs it.

Reproducibility: the program text, TileLang's CUDA C, the PTX and the cubin are the same bytes in
every process on one machine for the same kernel, specs and target (nvcc runs in a directory named
by the CUDA text's hash, see `nvcc_compile`). What still differs between machines, and why: the
PTX's ``.file`` lines name the CUDA toolkit's and TileLang's install directories (nvcc writes
absolute include paths with -lineinfo), and the work directory lies under the temporary directory
(``TMPDIR``); where ``<tmp>/tiledsl-nvcc`` cannot be used safely (owned by another user, open to
others) a random private directory stands in and the PTX differs per process again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tiledsl.lowering.escape import file_component

from tiledsl.errors import BackendError
from tiledsl.report import Report, parse_ptxas_verbose, scan_ptx
from tiledsl.settings import usable_cache_dir
from tiledsl.targets import Target

_loaded: dict[str, object] = {}  # program hash -> prim_func


def program_dir() -> Path:
    """``<cache>/tilelang``, in the cache directory `usable_cache_dir` picked (it falls back to a
    private temporary one when the configured directory cannot be written)."""
    d = usable_cache_dir("tilelang")
    d.mkdir(parents=True, exist_ok=True)  # again: it may have been removed since it was checked
    return d


def artifact_path(entry: str, source: str, suffix: str) -> Path:
    # `suffix` is tiledsl's own (".py", "_sm_90a.cubin"), never user text
    """A file of the program's cache: named by a sanitised entry name (no separators, no ``..``,
    bounded length) and the hash of the program text, always directly inside `program_dir`."""
    return program_dir() / f"{file_component(entry)}_{source_hash(source)}{suffix}"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:24]


def prim_func(source: str, entry: str):
    """The ``T.prim_func`` the program text defines (imported from its cache file)."""
    key = source_hash(source)
    if key not in _loaded:
        path = artifact_path(entry, source, ".py")
        if not path.exists() or path.read_text() != source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            tmp.replace(path)
        spec = importlib.util.spec_from_file_location(f"tiledsl_tilelang_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # TileLang's parser error: point at the generated file
            raise BackendError(f"TileLang rejected the generated program {path}: {e}",
                               hint="this is a tiledsl bug; please report it with the program") from e
        _loaded[key] = getattr(module, entry)
    return _loaded[key]


def tl_target(target: Target):
    """TileLang's target for a tiledsl GPU: a dict, so no GPU needs to be present."""
    from tvm.target import Target as TvmTarget

    return TvmTarget({"kind": "cuda", "arch": f"sm_{target.arch}"})


def lower_to_cuda(source: str, entry: str, target: Target) -> tuple[str, int, float]:
    """(CUDA C, dynamic shared memory bytes, seconds) of the program for `target`."""
    return lower_prim_func(prim_func(source, entry), entry, target)


def lower_prim_func(func, entry: str, target: Target) -> tuple[str, int, float]:
    """(CUDA C, dynamic shared memory bytes, seconds) of a ``T.prim_func`` for `target` (also
    used for hand-written TileLang kernels: ``benchmarks/static_parity_tilelang.py``)."""
    import tilelang

    t0 = time.perf_counter()
    tgt = tl_target(target)
    try:
        with tgt:
            art = tilelang.lower(func, target=tgt)
    except Exception as e:
        raise BackendError(f"TileLang could not lower {entry} for {target.name}: {e}") from e
    dyn = 0
    for f in art.device_mod.functions.values():
        dyn = max(dyn, int(f.attrs.get("dyn_shared_memory_buf", 0) or 0))
    return art.kernel_source, dyn, time.perf_counter() - t0


def include_dirs() -> list[str]:
    from tilelang import env

    return [env.CUTLASS_INCLUDE_DIR, env.TILELANG_TEMPLATE_PATH]


def nvcc_compile(cuda: str, arch: str) -> tuple[str | None, bytes | None, str, float]:
    """(PTX, cubin, ptxas log, seconds) from nvcc for `arch` (e.g. ``sm_90a``); Nones without nvcc.

    Two steps so the PTX is kept for scanning: ``nvcc -ptx`` (the C++ front end) then
    ``ptxas -v`` (registers, spills, shared memory). The work directory is named by the hash of
    the CUDA text (`_nvcc_dir`), not a random temporary name: nvcc writes the source's absolute
    path into the PTX (``.file``, with -lineinfo) and hashes it into internal-linkage symbols
    (``_INTERNAL_<hash>_4_k_cu_...``), so a random directory made the PTX differ in every process."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None, None, "nvcc is not on the PATH", 0.0
    t0 = time.perf_counter()
    inc = [f"-I{d}" for d in include_dirs()]
    with _nvcc_dir(f"{arch}\n{cuda}") as d:
        src, ptx_path, cubin = d / "k.cu", d / "k.ptx", d / "k.cubin"
        src.write_text(cuda)
        cmd = [nvcc, "-std=c++20", "-w", "-Xcudafe", "--diag_suppress=177", "-lineinfo", "-ptx",
               f"-arch={arch}", *inc, str(src), "-o", str(ptx_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BackendError(f"nvcc rejected TileLang's CUDA for {arch}:\n{proc.stderr[-4000:]}")
        ptx = ptx_path.read_text()
        ptxas = shutil.which("ptxas") or str(Path(nvcc).parent / "ptxas")
        proc = subprocess.run([ptxas, "-v", f"-arch={arch}", str(ptx_path), "-o", str(cubin)],
                              capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise BackendError(f"ptxas rejected the PTX for {arch}:\n{log[-4000:]}")
        data = cubin.read_bytes()
    return ptx, data, log, time.perf_counter() - t0


NVCC_ROOT = Path(tempfile.gettempdir()) / "tiledsl-nvcc"


@contextlib.contextmanager
def _nvcc_dir(key: str) -> Iterator[Path]:
    """A work directory whose path depends only on `key`: ``<tmp>/tiledsl-nvcc/<hash>``, held
    under a file lock (two processes compiling the same program take turns) and emptied after.

    The shared root must be a real directory owned by this user and closed to others (another
    user could otherwise plant links in it); when it is not, or cannot be made, a private random
    directory is used instead and the PTX is then not reproducible across processes."""
    from filelock import FileLock

    try:
        NVCC_ROOT.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(NVCC_ROOT)
        safe = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077
    except OSError:
        safe = False
    if not safe:
        with tempfile.TemporaryDirectory() as d:
            yield Path(d)
        return
    d = NVCC_ROOT / hashlib.sha256(key.encode()).hexdigest()[:24]
    with FileLock(str(d) + ".lock"):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(mode=0o700)
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)


def build_report(arch: str, ptx: str | None, log: str, dyn_smem: int, notes: list[str]) -> Report:
    stats = parse_ptxas_verbose(log) if ptx is not None else {}
    scan = scan_ptx(ptx) if ptx is not None else {}
    static = stats.pop("shared_bytes", None)
    shared = (static or 0) + dyn_smem if (static is not None or dyn_smem) else None
    if dyn_smem:
        notes.append(f"shared memory = {static or 0} B static + {dyn_smem} B dynamic")
    return Report(arch=arch, shared_bytes=shared, notes=tuple(notes), **stats, **scan)
