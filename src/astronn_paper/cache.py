"""The one cache layer of every stage: content fingerprints, atomic writes, chunked resume
and version stamps.

* :func:`fingerprint` hashes a JSON-able description (a plan, a key); :func:`array_fingerprint`
  an array's bytes; :func:`file_fingerprint` a file's content (SHA-256) and :func:`file_sha1`
  the SHA-1 that APOGEE's ``.sha1sum`` files list (astroNN's ``filehash``).
* :func:`atomic_path` yields a temporary name next to the target and renames it into place only
  when the block succeeds: a reader never sees a half-written file, an interruption leaves
  none. :func:`atomic_write_bytes` and :func:`atomic_write_json` are the one-liners.
* :class:`ChunkDir` is the resumable work folder of a chunked stage (compile): a plan file
  and one atomically written file per finished chunk; a re-run with the same plan keeps the
  finished chunks.
* :func:`versions` is the version stamp recorded in every artifact's provenance.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

#: Length (hex digits) of the fingerprints recorded in artifacts.
FP_LEN = 16


def fingerprint(obj) -> str:
    """SHA-256 (16 hex) of the canonical JSON of ``obj`` (keys sorted, non-JSON values as str)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:FP_LEN]


def parts_fingerprint(*parts: bytes) -> str:
    """SHA-256 (16 hex) of several byte strings (each hashed, so their boundaries count)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:FP_LEN]


def array_fingerprint(a) -> str:
    """SHA-256 (16 hex) of an array's raw bytes (e.g. the rows of a plan)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:FP_LEN]


def file_fingerprint(path: os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 (16 hex) of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()[:FP_LEN]


def file_sha1(path: os.PathLike) -> str:
    """Full SHA-1 (hex) of a file, as the SAS ``.sha1sum`` files list it (astroNN's ``filehash``)."""
    from astroNN.shared.downloader_tools import filehash

    return filehash(str(path), algorithm="sha1")


@contextlib.contextmanager
def atomic_path(path: os.PathLike, suffix: str = ".tmp", fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block ends
    without error (after an fsync if asked), else remove it. Works for files and folders.

    The temporary path has ``path``'s name inside a private folder made by
    :func:`tempfile.mkdtemp` in ``path``'s folder (same file system; its name ends in
    ``suffix``), so two writers of one target never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    tmp = private / path.name
    try:
        yield tmp
        if fsync and tmp.is_file():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(private)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def atomic_write_bytes(path: os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: os.PathLike, obj, **kw) -> None:
    """Write ``obj`` as JSON (sorted keys, indented unless told) to ``path`` atomically."""
    kw.setdefault("indent", 2)
    kw.setdefault("sort_keys", True)
    atomic_write_bytes(path, (json.dumps(obj, **kw) + "\n").encode())


class ChunkDir:
    """The resumable work folder of a chunked stage.

    ``plan`` (JSON-able) decides whether finished chunks can be reused: :meth:`open` keeps the
    folder when its ``plan.json`` equals ``plan`` (ignoring the keys in ``volatile``, e.g. the
    start time), else starts it afresh. Each chunk is one ``.npz`` file written atomically, so
    a chunk is either complete or absent.
    """

    def __init__(self, folder: os.PathLike, plan: dict | None = None, volatile=("time",)):
        self.folder = Path(folder)
        self.plan = plan
        self.volatile = tuple(volatile)

    @property
    def plan_file(self) -> Path:
        return self.folder / "plan.json"

    def open(self) -> bool:
        """Prepare the folder for :attr:`plan`; True when it already held chunks of that plan."""
        if self.folder.is_dir() and self.plan_file.is_file():
            old = json.loads(self.plan_file.read_text())
            if all(old.get(k) == v for k, v in self.plan.items() if k not in self.volatile):
                for tmp in self.folder.glob("*.tmp"):       # left by a killed writer
                    _remove(tmp)
                return True
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        atomic_write_json(self.plan_file, self.plan, indent=None)
        return False

    def recorded_plan(self) -> dict:
        return json.loads(self.plan_file.read_text())

    def path(self, cid: int) -> Path:
        return self.folder / f"chunk_{cid:06d}.npz"

    def done(self, n_chunks: int) -> set[int]:
        """Ids of the finished chunks among ``range(n_chunks)``."""
        return {c for c in range(n_chunks) if self.path(c).is_file()}

    def write(self, cid: int, arrays: dict[str, np.ndarray], meta=None) -> None:
        """Save chunk ``cid``: arrays by name (``/`` allowed) and a JSON-able ``meta``."""
        payload = {k.replace("/", "__"): v for k, v in arrays.items()}
        payload["__meta__"] = np.array(json.dumps(meta))
        with atomic_path(self.path(cid)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **payload)

    def read(self, cid: int, keys=None) -> tuple[dict[str, np.ndarray], object]:
        """``(arrays, meta)`` of chunk ``cid`` (only ``keys`` when given)."""
        with np.load(self.path(cid)) as z:
            names = z.files if keys is None else [k.replace("/", "__") for k in keys]
            arrays = {k.replace("__", "/"): z[k] for k in names if k in z.files and k != "__meta__"}
            meta = json.loads(str(z["__meta__"]))
        return arrays, meta


def versions(*packages: str) -> dict[str, str]:
    """Version stamp: this package, Python and the named distributions (absent ones skipped)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from astronn_paper import __version__

    out = {"astronn_paper": __version__, "python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
