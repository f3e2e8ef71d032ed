"""``python -m astronn_paper predict``: the network on arbitrary APOGEE spectra.

::

    python -m astronn_paper predict apStar-r8-2M00000002+7417074.fits aspcapStar-....fits \\
        [--model astroNN_0617_run001] [--mc 100] [--seed N] [--out labels.csv|labels.fits]

Each file is an **apStar** (``apStar-*``/``asStar-*``: HDU 1 flux, 2 error, 3 PIXMASK, on the
8575-pixel apStar grid) or an **aspcapStar** file (``aspcapStar-*``: HDU 1 the ASPCAP-normalised
flux, 2 its error); the kind is recognised from the HDU structure, not the name.

* apStar (DR14 ``apStar-r8-*``, DR17 ``apStar-dr17-*``, ``asStar-*`` of lco25m; any
  telescope): the *combined* spectrum is used, as in the paper. The row follows the row
  rules of :func:`astronn_paper.survey.release.apstar_rows`, from NVISITS and the number
  of rows in the file: a DR14 single-visit star has one row and a DR17 one two rows (row 0,
  the combined spectrum, is used); with N >= 2 visits (N + 2 rows, both releases) the
  global-weighted combination, row 1 (row 0 is the pixel-weighted one, rows 2.. the
  visits). A file whose rows fit no rule is refused with a message naming the rules.
  The spectrum is then normalised with the paper's continuum normalisation
  (:func:`astronn_paper.survey.normalise.continuum`: per-chip degree-2 Chebyshev fit to astroNN's
  continuum pixels; pixels flagged with PIXMASK bits 0-7 and 12 set to 1).
* aspcapStar: the ASPCAP-normalised spectrum, gap-deleted
  (:func:`astronn_paper.survey.normalise.aspcap`) - the paper's Section 5.4 comparison.

The labels are the 22 targets of the model with their total, model and predictive
uncertainties (fast MC dropout, :mod:`astronn_paper.model.engine`). Output: a table on stdout, or a
CSV / FITS file (``--out``, by extension; written atomically, provenance in the FITS header
and in CSV comment lines).

What the model was trained on (its folder's ``provenance.json``: survey, seed, profile,
number of stars) is printed (stderr) and written into the CSV comments / FITS header; a
model trained on the synthetic survey also prints a one-line warning: its labels of real
spectra are not physical.

Out-of-domain check: when the model folder holds a domain model (``domain.npz``,
:mod:`astronn_paper.model.domain`), every spectrum gets a ``DOMAIN_SCORE`` (≈ 1 for spectra
like the training set's; the χ² of its residual against the training set's principal
components) and an ``OUT_OF_DOMAIN`` flag (score above the folder's threshold, which flags
≤ 2 % of the high-SNR test set); a flagged spectrum also prints a one-line warning. Without a
domain model the score is NaN, the flag False, and a note says the check was not made.

Every bad argument (``--mc 0``, a ``--model`` that does not exist or is a file, an ``--out``
that is not .csv/.fits, a missing file, a file that is not an APOGEE apStar/aspcapStar or
whose rows fit no row rule, a spectrum that cannot be normalised) gives one line naming the
problem and exit status 2; the other files are still predicted. A ``--model`` folder that is
incomplete, damaged or of another architecture gives one line and exit status 1.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astronn_paper import cache

#: exit status of a bad argument: a bad option, model folder or input file (the usable
#: files are still predicted)
EXIT_BAD_INPUT = 2
#: exit status when the prediction failed for another reason: a --model folder that is
#: incomplete, damaged or of another architecture, or an output that cannot be written
EXIT_FAILED = 1
#: the warning printed for a model trained on the synthetic survey
SYNTHETIC_WARNING = ("warning: this model was trained on the synthetic survey: its labels of "
                     "real APOGEE spectra are not physical")


@dataclass
class Spectrum:
    """One input spectrum, normalised for the network."""

    path: str
    kind: str            # "apStar" or "aspcapStar"
    apogee_id: str
    row: int             # apStar row used (-1 for aspcapStar)
    nvisits: int
    rule: str            # apStar row rule (survey.release.apstar_rows), "" for aspcapStar
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
            from astronn_paper.survey import release

            star = formats.read_apstar(path)          # refuses rows that fit no row rule
            rule = release.apstar_rows(star.nvisits, star.flux.shape[0])
            r = rule.combined
            spec, spec_err = normalise.continuum(star.flux[r], star.err[r], star.bitmask[r])
            row, nvisits, rule_name = r, star.nvisits, rule.name
        else:
            star = formats.read_aspcapstar(path)
            spec, spec_err = normalise.aspcap(star.flux, star.err)
            row, nvisits, rule_name = -1, int(star.header.get("NVISITS", -1) or -1), ""
    except SpectrumError as exc:
        msg = str(exc)
        msg = msg[len(str(path)) + 2:] if msg.startswith(f"{path}: ") else msg
        raise InputError(f"{path}: {msg} [{exc.reason}]") from None
    except (ValueError, TypeError) as exc:                # e.g. a non-integer NVISITS
        raise InputError(f"{path}: {exc} [bad_layout]") from None
    return Spectrum(str(path), kind, str(star.apogee_id).strip(), row, nvisits, rule_name,
                    spec[0], spec_err[0])


# ----------------------------------------------------------------------------- provenance
def model_provenance(model_dir) -> dict:
    """What the model in ``model_dir`` was trained on, from its ``provenance.json``.

    Returns ``survey`` (a one-line description), ``synthetic`` (True / False / None when
    unknown), ``profile``, ``seed`` (the training seed), ``survey_seed`` (synthetic survey),
    ``release`` (mirror sources) and ``n_stars`` (training + validation spectra). The survey
    is taken from the provenance's ``source`` when it has one, else from the training
    dataset's own provenance (HDF5 attribute), else from its ``about`` note.
    """
    import json

    path = Path(model_dir) / "provenance.json"
    try:
        prov = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        prov = {}
    out = {"survey": "unknown (no provenance.json)" if not prov else "unknown",
           "synthetic": None, "profile": prov.get("profile"), "seed": prov.get("seed"),
           "survey_seed": None, "release": None, "n_stars": None}
    if prov.get("n_train") is not None:
        out["n_stars"] = int(prov["n_train"]) + int(prov.get("n_validation") or 0)
    source = prov.get("source") if isinstance(prov.get("source"), dict) else None
    if source is None and prov.get("dataset"):
        source = _dataset_source(prov["dataset"], Path(model_dir), prov.get("dataset_fingerprint"))
    settings = prov.get("profile_settings") or {}
    if source is not None:
        spec = source.get("spec") or {}
        kind = source.get("kind") or spec.get("kind")
        if kind == "synthetic":
            seed = spec.get("seed", settings.get("survey_seed"))
            out.update(synthetic=True, survey_seed=seed, release="dr14",
                       survey=f"synthetic DR14 survey (seed {seed})")
        elif kind == "mirror":
            root, rel = spec.get("root"), spec.get("release", "dr14")
            synth = source.get("synthetic")
            if synth is None and root:
                synth = (Path(root) / "astronn_paper_synthetic" / "truth.fits").is_file() or None
            out.update(release=rel, synthetic=synth,
                       survey=(f"{rel.upper()} SAS mirror {root}"
                               + (" (an export of the synthetic survey)" if synth else "")))
    if out["synthetic"] is None and "synthetic" in str(prov.get("about", "")).lower():
        out.update(synthetic=True, survey="synthetic DR14 survey (from the folder's note)",
                   survey_seed=settings.get("survey_seed"))
    return out


def _dataset_source(dataset_path, model_dir: Path, fingerprint=None) -> dict | None:
    """The ``source`` record of the provenance of the dataset a model was trained on, or None.

    A relative path is looked up from the working folder and from the model folder's parent
    (the repository root for the shipped folder); a file whose fingerprint differs from the
    one the model recorded is another dataset and is not used.
    """
    from astronn_paper.dataset import store

    path = Path(dataset_path)
    candidates = [path] if path.is_absolute() else [path, model_dir.parent / path, model_dir / path]
    for cand in candidates:
        try:
            info = store.info(cand)
        except (OSError, KeyError, ValueError, TypeError):  # missing / moved / other format
            continue
        if fingerprint and info.get("fingerprint") not in (None, fingerprint):
            continue
        return (info.get("provenance") or {}).get("source")
    return None


def provenance_lines(info: dict) -> list[str]:
    """Human-readable lines (and the synthetic-survey warning) of :func:`model_provenance`."""
    n = "?" if info["n_stars"] is None else f"{info['n_stars']:,}"
    seed = "?" if info["seed"] is None else info["seed"]
    lines = [f"model trained on: {info['survey']}; profile {info['profile'] or '?'}, seed {seed}, {n} stars"]
    if info["synthetic"]:
        lines.append(SYNTHETIC_WARNING)
    return lines


def domain_check(model_dir, x, x_err):
    """``(score, flag, threshold, note)`` of normalised spectra from the model folder's domain
    model (:mod:`astronn_paper.model.domain`); NaN scores, no flags and a note when the folder
    has no usable domain model."""
    from astronn_paper.model import domain

    n = len(x)
    try:
        dom = domain.find(model_dir)
    except domain.DomainError as exc:
        return np.full(n, np.nan), np.zeros(n, bool), float("nan"), f"note: {exc}; no out-of-domain check"
    if dom is None:
        return (np.full(n, np.nan), np.zeros(n, bool), float("nan"),
                f"note: {Path(model_dir).name} has no {domain.DOMAIN_FILE}: no out-of-domain check")
    score = dom.score(x, x_err)
    return score, dom.flag(score=score), float(dom.threshold), None


def _write(table, out: Path) -> None:
    """Write the table atomically as CSV or FITS (by the file extension)."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".fits", ".fit"):
        raise InputError(f"{out}: --out must end in .csv or .fits")
    with cache.atomic_path(out, suffix=f".tmp{suffix}") as tmp:
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


def _print(table, targets, stream=None) -> None:
    """A compact human-readable table: one line per star, label +- total uncertainty."""
    stream = sys.stdout if stream is None else stream  # at call time (tests swap sys.stdout)
    for row in table:
        dom = ""
        if "DOMAIN_SCORE" in row.colnames and np.isfinite(row["DOMAIN_SCORE"]):
            dom = f"  DOMAIN_SCORE {row['DOMAIN_SCORE']:.3g}" + ("  OUT OF DOMAIN" if row["OUT_OF_DOMAIN"] else "")
        print(f"{row['apogee_id']}  ({row['kind']}, {os.path.basename(row['file'])}){dom}",
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

    model_dir = Path(model_dir) if model_dir else config.shipped_model_dir()
    problems = argument_problems(mc=mc, seed=seed, out=out, model_dir=model_dir)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    status = 0
    spectra = []
    for path in files:
        try:
            spectra.append(read_spectrum(path))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
    if not spectra:
        print("error: no usable spectrum among the files given", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        model = engine.load_model(model_dir)
    except engine.ModelFolderError as exc:
        print(f"error: --model: {exc}", file=sys.stderr)
        return EXIT_FAILED           # a folder, but a broken or foreign one
    trained = model_provenance(model_dir)
    for line in provenance_lines(trained):
        print(line, file=sys.stderr)
    seed = config.seed_for("predict") if seed is None else int(seed)
    x = np.stack([s.spec for s in spectra])
    x_err = np.stack([s.spec_err for s in spectra])
    pred = engine.predict(model, x, x_err, mc=mc, seed=seed, progress=progress)
    dom_score, dom_flag, dom_thr, dom_note = domain_check(model_dir, x, x_err)
    if dom_note:
        print(dom_note, file=sys.stderr)
    for s, sc, fl in zip(spectra, dom_score, dom_flag):
        if fl:
            print(f"warning: {s.apogee_id} ({s.path}): out of domain, DOMAIN_SCORE {sc:.3g} > "
                  f"{dom_thr:.3g}: unlike the training spectra, its labels are unreliable",
                  file=sys.stderr)
    info = Table({"apogee_id": [s.apogee_id for s in spectra],
                  "file": [s.path for s in spectra], "kind": [s.kind for s in spectra],
                  "row": np.array([s.row for s in spectra], np.int16),
                  "nvisits": np.array([s.nvisits for s in spectra], np.int16),
                  "row_rule": [s.rule for s in spectra],
                  "DOMAIN_SCORE": np.asarray(dom_score, np.float32),
                  "OUT_OF_DOMAIN": np.asarray(dom_flag, bool)})
    info["DOMAIN_SCORE"].description = ("out-of-domain score: chi^2 of the residual against the "
                                        "training set's principal components / training median")
    info["OUT_OF_DOMAIN"].description = "DOMAIN_SCORE above the model folder's threshold"
    table = hstack([info, pred.to_table()], metadata_conflicts="silent")
    table.meta = {"software": f"astronn_paper {__version__}", "engine": pred.meta["engine"],
                  "model": str(model_dir.resolve()), "model_class": pred.meta["model_class"],
                  "mc": pred.meta["mc"], "seed": seed,
                  "normalise": "apStar: normalise.continuum; aspcapStar: normalise.aspcap",
                  "trained_survey": trained["survey"],
                  "trained_synthetic": "unknown" if trained["synthetic"] is None else bool(trained["synthetic"]),
                  "trained_profile": trained["profile"] or "unknown",
                  "trained_seed": -1 if trained["seed"] is None else int(trained["seed"]),
                  "trained_n_stars": -1 if trained["n_stars"] is None else int(trained["n_stars"]),
                  "domain_threshold": float(dom_thr) if np.isfinite(dom_thr) else "none",
                  "n_out_of_domain": int(np.sum(dom_flag))}
    if trained["synthetic"]:
        table.meta["warning"] = SYNTHETIC_WARNING[len("warning: "):]
    if out:
        try:
            _write(table, Path(out))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:
            print(f"error: --out {out}: cannot be written ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {len(table)} star(s) to {out}", file=sys.stderr)
    else:
        _print(table, pred.targetname)
    return status


def argument_problems(mc=100, seed=None, out=None, model_dir=None) -> list[str]:
    """One line per bad argument of :func:`run` (empty when all are fine)."""
    problems = []
    if isinstance(mc, bool) or not isinstance(mc, (int, np.integer)) or mc < 1:
        problems.append(f"--mc {mc!r}: the number of MC-dropout passes must be an integer >= 1")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2 ** 32):
        problems.append(f"--seed {seed!r}: the seed must be an integer in 0 .. 2**32-1")
    if out is not None:
        o = Path(out)
        if o.suffix.lower() not in (".csv", ".fits", ".fit"):
            problems.append(f"--out {out}: the output must end in .csv or .fits")
        elif o.is_dir():
            problems.append(f"--out {out}: is a folder, give a file name ending in .csv or .fits")
    if model_dir is not None:
        m = Path(model_dir)
        if not m.exists():
            problems.append(f"--model {m}: does not exist (train one with 'python -m astronn_paper "
                            "train' or pass the folder of a trained model)")
        elif not m.is_dir():
            problems.append(f"--model {m}: is a file, not a model folder (pass the folder that "
                            "holds astroNN_model_parameter.json and model_weights.h5)")
    return problems


def _positive_int(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: the number of MC-dropout passes must be >= 1")
    return n


def _seed(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 0 <= n < 2 ** 32:
        raise argparse.ArgumentTypeError(f"{n}: the seed must be in 0 .. 2**32-1")
    return n


def _cli(args) -> int:
    return run(args.files, model_dir=args.model, mc=args.mc, seed=args.seed, out=args.out,
               progress=len(args.files) > 200)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="labels and uncertainties of apStar / aspcapStar files",
        description="Predict the 22 labels (with total, model and predictive uncertainties) "
                    "of APOGEE apStar (DR14 or DR17, any telescope; combined spectrum, "
                    "continuum-normalised as in the paper) or aspcapStar files with the trained "
                    "network (fast MC dropout). Prints what the model was trained on.")
    p.add_argument("files", nargs="+", metavar="FILE.fits", help="apStar or aspcapStar files")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="astroNN model folder (default: the shipped astroNN_0617_run001)")
    p.add_argument("--mc", type=_positive_int, default=100, help="MC-dropout passes, >= 1 (default 100)")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the dropout masks (0 .. 2**32-1)")
    p.add_argument("--out", default=None, metavar="OUT.csv|OUT.fits",
                   help="write a CSV or FITS table instead of printing")
    p.set_defaults(func=_cli)
