"""The autotuner's on-disk cache: one small JSON file per tuning key.

Key: kernel source hash, shape bucket, dtypes, GPU name, tiledsl and backend versions (`TuneKey`).
Files live under ``<settings().cache_dir>/autotune/``, named by the key's SHA-256. Writes are
atomic (a temporary file in the same folder, then ``os.replace``) and serialised across processes
by a `filelock.FileLock`, so concurrent tuners never leave a torn file; a reader never needs the
lock. A file that does not parse or does not match its key is treated as missing and is rewritten
by the next `put`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

FORMAT = 1


def shape_bucket(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Sizes up to 16 as they are, larger ones rounded up to a power of two: shapes in one bucket
    share a tuned schedule."""
    return tuple(d if d <= 16 else 1 << (d - 1).bit_length() for d in shape)


@dataclass(frozen=True)
class TuneKey:
    source_hash: str
    shapes: tuple[tuple[int, ...], ...]  # bucketed
    dtypes: tuple[str, ...]
    gpu: str
    versions: tuple[tuple[str, str], ...]  # (package, version): tiledsl and the backend

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()

    def as_json(self) -> dict:
        d = asdict(self)
        d["shapes"] = [list(s) for s in self.shapes]
        d["versions"] = [list(v) for v in self.versions]
        d["dtypes"] = list(self.dtypes)
        return d


def make_key(source: str, specs, gpu: str, backend: str) -> TuneKey:
    """The key of one tuning problem: `specs` are the call's arg specs."""
    shapes = tuple(shape_bucket(tuple(s.shape)) for s in specs if hasattr(s, "shape"))
    dtypes = tuple(s.dtype.value for s in specs)
    return TuneKey(hashlib.sha256(source.encode()).hexdigest()[:32], shapes, dtypes, gpu,
                   (("tiledsl", _version("tiledsl")), (backend, _version(backend))))


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


class TuneCache:
    """Winners by key: ``get`` -> the winner's knob values or None, ``put`` stores them."""

    def __init__(self, root: Path | str | None = None):
        if root is None:  # the configured cache, or its stand-in when that cannot be written
            from tiledsl.settings import usable_cache_dir

            self.dir = usable_cache_dir("autotune")
        else:
            self.dir = Path(root) / "autotune"

    def path(self, key: TuneKey) -> Path:
        return self.dir / f"{key.digest()}.json"

    def get(self, key: TuneKey) -> dict[str, int] | None:
        try:
            data = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not _valid(data, key):
            return None
        return {k: int(v) for k, v in data["knobs"].items()}

    def put(self, key: TuneKey, knobs: dict[str, int], time_us: float | None = None) -> Path:
        """Store the winner for `key`, atomically; the last writer wins."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        record = {"format": FORMAT, "key": key.as_json(), "knobs": {k: int(v) for k, v in knobs.items()},
                  "time_us": time_us}
        with FileLock(str(path) + ".lock"):
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=path.stem, suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(record, f, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return path


def _valid(data, key: TuneKey) -> bool:
    return (isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == key.as_json()
            and isinstance(data.get("knobs"), dict)
            and all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                    for k, v in data["knobs"].items()))
