"""Shared set-up of the reliability tests: a tiny exported synthetic mirror and its faults.

:func:`base_mirror` exports ``N_STARS`` synthetic training-set stars once per test session
(``export_mirror(..., lite=True)``) and then makes it look like a small *real* mirror: the
allStar file is cut down to those rows (so that the paper's training cuts select all of
them and nothing else) and the synthetic truth table is removed. Tests copy it
(:func:`copy_mirror`, ~10 MB) before damaging anything.

:data:`FILE_FAULTS` damages one star's apStar file each; :func:`inject` applies them.
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from astronn_paper import config, dataset
from astronn_paper.survey import formats, mirror

N_STARS = 20
#: the paper's training cuts, every visit kept, no random subset
SELECTION = dataclasses.replace(dataset.standard_selections("ci")["train"], max_stars=None,
                                name="reliability")
#: pinned provenance time: byte-identical datasets and catalogs between runs
EPOCH = "1546300800"

_CACHE: dict = {}


def base_mirror() -> SimpleNamespace:
    """The clean mirror (once per session): ``root``, ``rows`` (allStar rows of the synthetic
    survey it was exported from) and ``ids``."""
    if "base" in _CACHE:
        return _CACHE["base"]
    from astronn_paper.synth.source import SyntheticSource
    from astronn_paper.synth.export import export_mirror

    tmp = Path(tempfile.mkdtemp(prefix="reliability_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    src = SyntheticSource(seed=config.get_profile("ci").survey_seed)
    full = src.allstar()
    rows = dataset.select(full, dataclasses.replace(SELECTION, max_stars=N_STARS,
                                                    seed=config.seed_for("reliability")))
    root = tmp / "clean"
    export_mirror(root, src, rows, lite=True, progress=False)
    small = full[rows]
    formats.write_allstar(root / mirror.allstar_relpath(), small)
    shutil.rmtree(root / mirror.SYNTH_DIR)  # a "real" mirror: no truth table
    ids = np.char.strip(small["APOGEE_ID"].astype(str))
    _CACHE["base"] = SimpleNamespace(root=root, rows=rows, ids=ids, tmp=tmp)
    return _CACHE["base"]


def copy_mirror(dest: Path) -> Path:
    shutil.copytree(base_mirror().root, dest, symlinks=True)
    return dest


def clean_dataset() -> Path:
    """The clean mirror compiled once (4 stars per chunk, one worker, pinned time)."""
    if "clean_h5" not in _CACHE:
        out = base_mirror().tmp / "clean.h5"
        with pinned_epoch():
            rep = dataset.compile_dataset(mirror.MirrorSource(base_mirror().root), SELECTION, out,
                                          workers=1, chunk_size=4, progress=False)
        assert rep.written == N_STARS and not rep.skipped, rep
        _CACHE["clean_h5"] = out
    return _CACHE["clean_h5"]


class pinned_epoch:
    """Context manager setting SOURCE_DATE_EPOCH (reproducible provenance time)."""

    def __enter__(self):
        self.old = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = EPOCH

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = self.old


# ----------------------------------------------------------------------------- file faults
def apstar_path(root: Path, allstar: np.ndarray, i: int) -> Path:
    r = allstar[i]
    return Path(root) / mirror.apstar_relpath(r["APOGEE_ID"], r["TELESCOPE"], r["LOCATION_ID"],
                                              r["FIELD"])


def _sums_name(allstar, i) -> str:
    r = allstar[i]
    return mirror.apstar_sha1sum_name(r["TELESCOPE"], r["LOCATION_ID"], r["FIELD"])


def _refresh_sum(path: Path, allstar, i) -> None:
    """Re-list the damaged file in its sha1sum (a file damaged *before* the checksums were
    made): the reader itself must then notice the damage."""
    formats.update_sha1sum(path.parent, _sums_name(allstar, i), [path.name])


def _rewrite(path: Path, edit) -> None:
    """Read every HDU, let ``edit(hdul)`` change it, write it back (same name)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    hdul = edit(hdul) or hdul
    hdul.writeto(path, overwrite=True, output_verify="silentfix")


def _set_pixels(k: int, value, pixels=slice(1000, 1200)):
    def edit(hdul):
        data = hdul[k].data.copy()
        data[..., pixels] = value
        hdul[k].data = data
    return edit


def _truncate(path, allstar, i):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    _refresh_sum(path, allstar, i)


def _flip_bytes(path, allstar, i):          # sha1sum left as it was: the checksum catches it
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(255 - b for b in data[mid:mid + 64])
    path.write_bytes(bytes(data))


def _garbage_header(path, allstar, i):
    data = bytearray(path.read_bytes())
    data[:160] = b"\x00\xff" * 80
    path.write_bytes(bytes(data))
    _refresh_sum(path, allstar, i)


def _drop_hdus(path, allstar, i):
    from astropy.io import fits

    _rewrite(path, lambda h: fits.HDUList(h[:2]))
    _refresh_sum(path, allstar, i)


def _wrong_pixels(path, allstar, i):
    def edit(hdul):
        for k in (1, 2, 3):
            hdul[k].data = hdul[k].data[..., :8000].copy()
    _rewrite(path, edit)
    _refresh_sum(path, allstar, i)


def _pixels(k, value):
    def fault(path, allstar, i):
        _rewrite(path, _set_pixels(k, value))
        _refresh_sum(path, allstar, i)
    return fault


def _inf_flux(path, allstar, i):
    _rewrite(path, _set_pixels(1, np.inf, pixels=[300, 4000, 7000]))
    _refresh_sum(path, allstar, i)


def _all_masked(path, allstar, i):
    _rewrite(path, _set_pixels(3, 1, pixels=slice(None)))   # PIXMASK bit 0 everywhere
    _refresh_sum(path, allstar, i)


def _wrong_sha1sum(path, allstar, i):    # the file is intact, its checksum entry is wrong
    sums = path.parent / _sums_name(allstar, i)
    entries = formats.read_sha1sum(sums)
    entries[path.name] = "0" * 40
    formats.write_sha1sum(sums, entries)


def _missing(path, allstar, i):
    path.unlink()


def _nan_one_visit(path, allstar, i):      # only the first visit (row 2) is bad
    def edit(hdul):
        data = hdul[1].data.copy()
        data[2, 1000:1200] = np.nan
        hdul[1].data = data
    _rewrite(path, edit)
    _refresh_sum(path, allstar, i)


#: fault name -> (function(path, allstar, row), expected skip reason). Each damages one
#: star's apStar file; ``nan_one_visit`` needs a star with several visits and skips a visit.
FILE_FAULTS = {
    "truncated_fits": (_truncate, "corrupt_fits"),
    "corrupted_bytes": (_flip_bytes, "bad_checksum"),
    "garbage_header": (_garbage_header, "corrupt_fits"),
    "wrong_hdu_layout": (_drop_hdus, "bad_layout"),
    "wrong_pixel_count": (_wrong_pixels, "bad_layout"),
    "nan_flux": (_pixels(1, np.nan), "nonfinite"),
    "inf_flux": (_inf_flux, "nonfinite"),
    "negative_errors": (_pixels(2, -1.0), "bad_error"),
    "zero_errors": (_pixels(2, 0.0), "bad_error"),
    "all_masked": (_all_masked, "all_masked"),
    "wrong_sha1sum": (_wrong_sha1sum, "bad_checksum"),
    "missing_file": (_missing, "missing_file"),
    "nan_one_visit": (_nan_one_visit, "nonfinite"),
}


def inject(root: Path, plan: dict[str, int]) -> dict[str, Path]:
    """Apply ``{fault: allStar row of the mirror}``; returns ``{fault: damaged file}``."""
    allstar = formats.read_allstar(Path(root) / mirror.allstar_relpath())
    out = {}
    for name, i in plan.items():
        path = apstar_path(root, allstar, i)
        FILE_FAULTS[name][0](path, allstar, i)
        out[name] = path
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder`` (none may survive a finished command)."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                  if p.name.endswith((".tmp", ".partial", ".partial.h5")) or ".tmp" in p.name
                  or p.name.endswith(".partial") or ".partial-" in p.name)


# ----------------------------------------------------------------------------- tiny model
#: one epoch, batches of 8, a fixed seed: a restarted training must give the same weights
TRAIN_SEED = 20190604
TRAIN_PROFILE = config.get_profile("ci").replace(batch_size=8, epochs=1, mc_passes=5)


def model_folder() -> Path:
    return base_mirror().tmp / "models" / "astroNN_0617_run001"


def train_tiny(out: Path | None = None) -> Path:
    """Train the censored network for one epoch on the clean mirror's 20 spectra."""
    from astronn_paper.model import train

    return train.train_network("censored", clean_dataset(), out or model_folder(),
                               TRAIN_PROFILE, seed=TRAIN_SEED, epochs=1)


def tiny_model() -> Path:
    """The tiny model folder (trained once per session; the interruption test may have made
    it already, by restarting a killed training)."""
    folder = model_folder()
    if not (folder / "model_weights.h5").is_file():
        train_tiny(folder)
    return folder


def weights(folder: Path) -> list[np.ndarray]:
    """The weight arrays of a model folder's ``model_weights.h5`` in the network's layer
    order (Keras names layers with a per-process counter, so names are not compared)."""
    import h5py

    out = []
    with h5py.File(Path(folder) / "model_weights.h5", "r") as f:
        g = f["model_weights"]
        for layer in g.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for name in g[layer].attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                out.append(g[layer][name][()])
    return out


# ----------------------------------------------------------------------------- figures
#: ``scripts/reliability_report.py`` sets this to collect the measured figures of a run
FIGURES_ENV = "ASTRONN_PAPER_RELIABILITY_JSON"


def record(key: str, value) -> None:
    """Add ``{key: value}`` to the figures file (when the report script asked for one)."""
    import json

    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
