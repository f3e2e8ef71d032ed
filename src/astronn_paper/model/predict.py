"""``python -m astronn_paper predict``: the network on arbitrary APOGEE spectra.

::

    python -m astronn_paper predict apStar-r8-2M00000002+7417074.fits aspcapStar-....fits \\
        [--model astroNN_0617_run001] [--mc 100] [--seed N] [--out labels.csv|labels.fits]

Each file is an **apStar** (``apStar-*``/``asStar-*``: HDU 1 flux, 2 error, 3 PIXMASK, on the
8575-pixel apStar grid) or an **aspcapStar** file (``aspcapStar-*``: HDU 1 the ASPCAP-normalised
flux, 2 its error); the kind is recognised from the HDU structure, not the name.

* apStar: the *combined* spectrum is used, as in the paper: with more than one visit the
  global-weighted combination (row 1; row 0 is the pixel-weighted one, rows 2.. the
  visits). The row is chosen from the number of rows in the file, not only NVISITS:
  a DR14 single-visit star has one row (row 0 is used), while DR16/DR17 files of
  single-visit stars may carry both combined rows and the visit (3 rows, NVISITS = 1:
  row 1 is used). It is then normalised with the paper's continuum normalisation
  (:func:`astronn_paper.survey.normalise.continuum`: per-chip degree-2 Chebyshev fit to astroNN's
  continuum pixels; pixels flagged with PIXMASK bits 0-7 and 12 set to 1).
* aspcapStar: the ASPCAP-normalised spectrum, gap-deleted
  (:func:`astronn_paper.survey.normalise.aspcap`) - the paper's Section 5.4 comparison.

The labels are the 22 targets of the model with their total, model and predictive
uncertainties (fast MC dropout, :mod:`astronn_paper.model.engine`). Output: a table on stdout, or a
CSV / FITS file (``--out``, by extension; written atomically, provenance in the FITS header
and in CSV comment lines). A missing file, a file that is not an APOGEE apStar/aspcapStar, a
spectrum that cannot be normalised, or a bad model folder gives a one-line error and a
non-zero exit status; the other files are still predicted.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: exit status when some input could not be used (the others are still written)
EXIT_BAD_INPUT = 2
#: exit status when nothing could be predicted (bad model or no usable input)
EXIT_FAILED = 1


@dataclass
class Spectrum:
    """One input spectrum, normalised for the network."""

    path: str
    kind: str            # "apStar" or "aspcapStar"
    apogee_id: str
    row: int             # apStar row used (-1 for aspcapStar)
    nvisits: int
    spec: np.ndarray     # (7514,) float32
    spec_err: np.ndarray


class InputError(Exception):
    """A file that cannot be used (message names the file and the reason)."""


def file_kind(path) -> str:
    """``"apStar"`` or ``"aspcapStar"`` from the HDU structure; :class:`InputError` otherwise."""
    from astropy.io import fits

    from astronn_paper import apogee

    path = str(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a file")
    try:
        with fits.open(path, memmap=False) as hdul:
            shapes = [h.shape if h.is_image else None for h in hdul]
            dtypes = [h.data.dtype.kind if h.is_image and h.data is not None else None
                      for h in hdul[:4]]
    except Exception as exc:  # astropy raises OSError/ValueError/TypeError on non-FITS files
        raise InputError(f"{path}: not a readable FITS file ({type(exc).__name__}: {exc})") from None
    n = apogee.N_PIX
    img = (lambda k: len(shapes) > k and shapes[k] is not None and len(shapes[k]) in (1, 2)
           and shapes[k][-1] == n)
    if img(1) and img(2) and img(3) and dtypes[3] in ("i", "u"):
        return "apStar"
    if img(1) and img(2) and len(shapes[1]) == 1 and (len(dtypes) < 4 or dtypes[3] != "i"):
        return "aspcapStar"
    raise InputError(f"{path}: not an APOGEE apStar or aspcapStar file (expected {n}-pixel "
                     "flux and error images in HDUs 1 and 2, and an integer PIXMASK in HDU 3 "
                     "for apStar)")


def read_spectrum(path) -> Spectrum:
    """Read and normalise one apStar / aspcapStar file as the paper does."""
    from astronn_paper.survey import formats, normalise
    from astronn_paper.survey.source import SpectrumError

    kind = file_kind(path)
    try:
        if kind == "apStar":
            star = formats.read_apstar(path)
            flux, err, mask = star.combined()
            from astronn_paper import apogee

            row = apogee.combined_row(star.nvisits, star.flux.shape[0])
            spec, spec_err = normalise.continuum(flux, err, mask)
            nvisits = star.nvisits
        else:
            star = formats.read_aspcapstar(path)
            spec, spec_err = normalise.aspcap(star.flux, star.err)
            row, nvisits = -1, int(star.header.get("NVISITS", -1) or -1)
    except SpectrumError as exc:
        raise InputError(f"{path}: {exc} [{exc.reason}]") from None
    return Spectrum(str(path), kind, str(star.apogee_id).strip(), row, nvisits, spec[0],
                    spec_err[0])


def _write(table, out: Path) -> None:
    """Write the table atomically as CSV or FITS (by the file extension)."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".fits", ".fit"):
        raise InputError(f"{out}: --out must end in .csv or .fits")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        if suffix == ".csv":
            comments = [f"{k} = {v}" for k, v in table.meta.items()]
            t = table.copy(copy_data=False)
            t.meta = {"comments": comments}
            t.write(tmp, format="ascii.csv", overwrite=True,
                    comment="# ")
        else:
            from astropy.io import fits

            t = table.copy(copy_data=False)
            for col in t.itercols():        # FITS has no 'dex': keep it in the description
                if str(col.unit) == "dex":
                    col.unit = None
                    col.description = f"{col.description} [dex]"
            import warnings

            with warnings.catch_warnings():      # long meta keys become HIERARCH cards
                warnings.simplefilter("ignore", fits.verify.VerifyWarning)
                hdu = fits.table_to_hdu(t)
                fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def _print(table, targets, stream=None) -> None:
    """A compact human-readable table: one line per star, label +- total uncertainty."""
    stream = sys.stdout if stream is None else stream  # at call time (tests swap sys.stdout)
    for row in table:
        print(f"{row['apogee_id']}  ({row['kind']}, {os.path.basename(row['file'])})",
              file=stream)
        cells = []
        for t in targets:
            fmt = "{:8.1f} +- {:5.1f}" if t == "teff" else "{:7.3f} +- {:5.3f}"
            cells.append(f"  {t:>5s} " + fmt.format(row[t], row[f"{t}_err"]))
        for i in range(0, len(cells), 4):
            print("".join(cells[i:i + 4]), file=stream)


def run(files, model_dir=None, mc: int = 100, seed: int | None = None, out=None,
        progress: bool = False) -> int:
    """Predict the labels of ``files``; returns the exit status (0 when all went well)."""
    from astropy.table import Table, hstack

    from astronn_paper import __version__, config
    from astronn_paper.model import engine

    status = 0
    spectra = []
    for path in files:
        try:
            spectra.append(read_spectrum(path))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
    if not spectra:
        print("error: no usable spectrum", file=sys.stderr)
        return EXIT_FAILED
    model_dir = Path(model_dir) if model_dir else config.shipped_model_dir()
    try:
        model = engine.load_model(model_dir)
    except engine.ModelFolderError as exc:
        hint = "" if model_dir.exists() else " (train one with 'python -m astronn_paper train' or pass --model DIR)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILED
    seed = config.seed_for("predict") if seed is None else int(seed)
    x = np.stack([s.spec for s in spectra])
    x_err = np.stack([s.spec_err for s in spectra])
    pred = engine.predict(model, x, x_err, mc=mc, seed=seed, progress=progress)
    info = Table({"apogee_id": [s.apogee_id for s in spectra],
                  "file": [s.path for s in spectra], "kind": [s.kind for s in spectra],
                  "row": np.array([s.row for s in spectra], np.int16),
                  "nvisits": np.array([s.nvisits for s in spectra], np.int16)})
    table = hstack([info, pred.to_table()], metadata_conflicts="silent")
    table.meta = {"software": f"astronn_paper {__version__}", "engine": pred.meta["engine"],
                  "model": str(model_dir.resolve()), "model_class": pred.meta["model_class"],
                  "mc": pred.meta["mc"], "seed": seed,
                  "normalise": "apStar: normalise.continuum; aspcapStar: normalise.aspcap"}
    if out:
        try:
            _write(table, Path(out))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {len(table)} star(s) to {out}", file=sys.stderr)
    else:
        _print(table, pred.targetname)
    return status


def _cli(args) -> int:
    return run(args.files, model_dir=args.model, mc=args.mc, seed=args.seed, out=args.out,
               progress=len(args.files) > 200)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="labels and uncertainties of apStar / aspcapStar files",
        description="Predict the 22 labels (with total, model and predictive uncertainties) "
                    "of APOGEE apStar (combined spectrum, continuum-normalised as in the paper) "
                    "or aspcapStar files with the trained network (fast MC dropout).")
    p.add_argument("files", nargs="+", metavar="FILE.fits", help="apStar or aspcapStar files")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="astroNN model folder (default: the shipped astroNN_0617_run001)")
    p.add_argument("--mc", type=int, default=100, help="MC-dropout passes (default 100)")
    p.add_argument("--seed", type=int, default=None, help="seed of the dropout masks")
    p.add_argument("--out", default=None, metavar="OUT.csv|OUT.fits",
                   help="write a CSV or FITS table instead of printing")
    p.set_defaults(func=_cli)
