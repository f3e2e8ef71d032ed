"""Small JSON files of the numbers each notebook measures (what the README and tests quote).

``<data>/<profile>/results/<Notebook>.json``: ``{"notebook", "profile", "created",
"versions", "results": {...}}``, written atomically. NaN and infinities become ``null``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from astronn_paper import __version__, cache, config


def path(name: str, profile=None) -> Path:
    """Where the results of notebook ``name`` (e.g. ``"Inference"``) live."""
    return config.sub_dir("results", profile) / f"{name}.json"


def _plain(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, keys to str."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "to_dict"):  # pandas objects
        return _plain(obj.to_dict())
    return obj


def write(name: str, data: dict, profile=None) -> Path:
    """Write ``data`` as the results of notebook ``name`` (atomic); returns the path."""
    p = config.get_profile(profile)
    out = path(name, p)
    doc = {"notebook": name, "profile": p.name, "package_version": __version__,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": _plain(data)}
    cache.atomic_write_bytes(out, (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())
    return out


def read(name: str, profile=None) -> dict:
    """The ``results`` of notebook ``name`` (raises FileNotFoundError if never run)."""
    p = config.get_profile(profile)
    f = path(name, p)
    if not f.is_file():
        raise FileNotFoundError(f"no results for {name!r} under profile "
                                f"{p.name!r}: run the notebook first ({f})")
    return json.loads(f.read_text())["results"]
