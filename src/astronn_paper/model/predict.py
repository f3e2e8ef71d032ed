"""``python -m astronn_paper predict``: the network on arbitrary APOGEE spectra.

::

    python -m astronn_paper predict apStar-r8-2M00000002+7417074.fits aspcapStar-....fits \\
        [--model DIR] [--profile ci|default|paper] [--mc N] [--seed N] [--out labels.csv|labels.fits]

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

Each kind needs the network trained on it (:data:`DEFAULT_NETWORKS`): without ``--model``
an apStar goes to ``astroNN_0617_run001`` and an aspcapStar to ``aspcapStar_BCNNCensored``
(a mix of both is split between them); ``--model`` sends every file to the folder it names.
One line per network used says which it is, for how many files and why (stderr), and the
``model`` column names it per row. ``--mc`` and ``--seed`` default to the profile's.

The labels are the 22 targets of the model with their total, model and predictive
uncertainties (fast MC dropout, :mod:`astronn_paper.model.engine`). Output: a table on stdout, or a
CSV / FITS file (``--out``, by extension; written atomically). Both files describe themselves:
the CSV opens with comment lines (``#``) saying what every column is, in which unit, and where
the labels came from (read it with ``pandas.read_csv(path, comment="#")``); the FITS table
carries a unit (``TUNITn``) where there is one and a description (``TCOMMn``, and a comment on
its ``TTYPEn``) on every column, and a comment on every header keyword. :data:`INFO_COLUMNS`,
:data:`astronn_paper.model.engine.LABEL_COLUMNS` and
:data:`astronn_paper.apogee.TARGET_DESCRIPTIONS` hold the descriptions.

What the model was trained on (its folder's ``provenance.json``: survey, seed, profile,
number of stars) is printed (stderr) and written into the CSV comments / FITS header; a
model trained on the synthetic survey also prints a one-line warning: its labels of real
spectra are not physical.

Out-of-domain check: when the model folder holds a domain model (``domain.npz``,
:mod:`astronn_paper.model.domain`), every spectrum gets a ``DOMAIN_SCORE`` (the χ² of its
residual against the training set's principal components, scaled by the 98th percentile of
in-domain spectra at the same share of model error, so below 1 for 98 % of spectra like the
training set's at any SNR) and an ``OUT_OF_DOMAIN`` flag (score above the folder's threshold,
which flags ≤ 2 % of the high-SNR test set); a flagged spectrum also prints a one-line warning. Without a
domain model the score is NaN, the flag False, and a note says the check was not made.

Every bad argument (``--mc 1``: at least :data:`astronn_paper.config.MIN_MC_PASSES` passes; a
``--model`` that does not exist, is a file, or is a folder that is incomplete, damaged or of
another architecture; an ``--out`` that is not .csv/.fits; a missing file, a file that is not
an APOGEE apStar/aspcapStar or whose rows fit no row rule, a spectrum that cannot be
normalised) gives one line naming the problem and exit status 2; the other files are still
predicted. An output that cannot be written gives one line and exit status 1.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astronn_paper import cache, config
from astronn_paper.model import train

#: exit status of a bad argument: a bad option, model folder or input file (the usable
#: files are still predicted)
EXIT_BAD_INPUT = 2
#: exit status when the prediction failed for another reason: an output that cannot be written
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


class InputError(config.UserError):
    """A file that cannot be used (message names the file and the reason)."""


#: The columns before the labels: name -> (short, full description) (CSV header block, FITS
#: ``TTYPEn`` comment and ``TCOMMn``).
INFO_COLUMNS = {
    "apogee_id": ("APOGEE identifier", "APOGEE identifier of the star (2MASS style), from the file"),
    "file": ("input file", "the input file, as given"),
    "kind": ("apStar or aspcapStar", "apStar (its combined spectrum, continuum-normalised as in "
             "the paper) or aspcapStar (the ASPCAP-normalised spectrum)"),
    "row": ("apStar row used (-1: aspcapStar)", "apStar row used, 0-based (-1: aspcapStar)"),
    "nvisits": ("number of visits (-1: unknown)", "number of visits, NVISITS (-1: unknown)"),
    "row_rule": ("apStar row rule", "apStar row rule that chose the row: dr14-single, "
                 "dr17-single, single-n+2 or multi (empty: aspcapStar)"),
    "model": ("network (model folder) used", "the network (model folder) that predicted the "
              "labels: by default astroNN_0617_run001 for apStar and aspcapStar_BCNNCensored for "
              "aspcapStar files, else the --model given"),
    "DOMAIN_SCORE": ("out-of-domain score, < 1 for 98% in domain",
                     "out-of-domain score: below 1 for 98 % of spectra like the training set's, "
                     "at any SNR; larger for spectra unlike them (NaN: not checked)"),
    "OUT_OF_DOMAIN": ("DOMAIN_SCORE > DOMTHR: labels unreliable",
                      "DOMAIN_SCORE above the model's threshold (domain_threshold; FITS keyword "
                      "DOMTHR): the spectrum is unlike anything the network was trained on, do "
                      "not trust its labels"),
}

#: Descriptions of the provenance keys of the output (CSV ``# key = value`` lines; FITS
#: keyword, comment).
META_KEYS = {
    "software": ("SOFTWARE", "program that wrote this file"),
    "engine": ("ENGINE", "inference engine, version"),
    "model": ("MODEL", "astroNN model folder"),
    "model_class": ("MODELCLS", "astroNN class of the network"),
    "mc": ("MC", "MC-dropout passes per spectrum"),
    "seed": ("SEED", "seed of the dropout masks"),
    "normalise": ("NORMALIS", "normalisation of the spectra"),
    "trained_survey": ("TRSURVEY", "survey the model was trained on"),
    "trained_synthetic": ("TRSYNTH", "model trained on the synthetic survey"),
    "trained_profile": ("TRPROFIL", "astronn_paper profile of the training run"),
    "trained_seed": ("TRSEED", "seed of the training run (-1: unknown)"),
    "trained_n_stars": ("TRNSTARS", "training + validation spectra (-1: unknown)"),
    "domain_threshold": ("DOMTHR", "OUT_OF_DOMAIN when DOMAIN_SCORE is above this"),
    "n_out_of_domain": ("NOUTDOM", "spectra flagged OUT_OF_DOMAIN"),
    "warning": ("WARNING", "read before using the labels"),
}


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
        raise InputError(f"{path}: not a readable FITS file ({_fits_problem(exc)}); give an "
                         "APOGEE apStar or aspcapStar file") from None
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


def _fits_problem(exc: Exception) -> str:
    """What astropy's error on a file that is not FITS means, without its advice to retry with
    options (``ignore_missing_simple=True``) that do not apply to a spectrum."""
    text = str(exc)
    if "SIMPLE card" in text or "Empty or corrupt FITS file" in text:
        return "it does not start with a FITS header"
    if "truncated" in text.lower():
        return "the file is truncated"
    first = text.split(". ")[0].strip().rstrip(".")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


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
    if suffix == ".csv":
        with cache.atomic_path(out, suffix=f".tmp{suffix}") as tmp:
            t = table.copy(copy_data=False)
            t.meta = {"comments": csv_header(table)}
            t.write(tmp, format="ascii.csv", overwrite=True, comment="# ")
    else:
        from astronn_paper import fitstable

        fitstable.write(out, [_primary_hdu(), fits_hdu(table)])


def _label_names(table) -> list[str]:
    """The label columns of an output table (those with a ``_err`` column)."""
    return [c for c in table.colnames if f"{c}_err" in table.colnames]


def csv_header(table) -> list[str]:
    """The comment lines that open the CSV (without their ``# ``): what the file is, every
    column with its unit, then the provenance as ``key = value`` lines."""
    from astronn_paper import apogee
    from astronn_paper.model import engine

    lines = ["astroNN labels of APOGEE spectra (Leung & Bovy 2019), written by "
             "'python -m astronn_paper predict'; one row per spectrum.",
             "Read it with pandas.read_csv(path, comment='#') or astropy's "
             "Table.read(path, format='ascii.csv', comment='#').",
             "Columns:"]
    lines += [f"  {name:<24}{INFO_COLUMNS[name][1]}" for name in table.colnames if name in INFO_COLUMNS]
    lines += [f"  {'<label>' + suffix:<24}{what}, in the label's unit"
              for suffix, what in engine.LABEL_COLUMNS.items()]
    lines.append("Labels (the ASPCAP labels the paper's network is trained on; [X/H] is the abundance "
                 "of X relative to hydrogen, in dex relative to the Sun):")
    for name in _label_names(table):
        unit = apogee.TARGET_UNITS.get(name, str(table[name].unit or ""))
        lines.append(f"  {name:<6}{unit:<5}{apogee.TARGET_DESCRIPTIONS.get(name, name)}")
    lines.append("Provenance:")
    lines += [f"{k} = {v}" for k, v in table.meta.items()]
    return lines


#: Short column descriptions for the comment of a FITS ``TTYPEn`` card (the full one is in
#: ``TCOMMn``), by label-column suffix.
_SHORT = {"": "", "_err": "total uncertainty", "_err_model": "model (epistemic) uncertainty",
          "_err_predictive": "predictive (aleatoric) uncertainty"}
def fits_hdu(table):
    """The output table as a FITS binary table HDU (``LABELS``, :func:`astronn_paper.fitstable.table_hdu`):
    ``TUNITn`` where a column has a unit, ``TCOMMn`` and a ``TTYPEn`` comment describing every
    column, and the provenance as keywords with comments (:data:`META_KEYS`)."""
    from astronn_paper import apogee, fitstable
    from astronn_paper.model import engine

    labels = set(_label_names(table))
    describe, units = {}, {}
    for name in table.colnames:
        base, suffix = name, ""
        for suf in ("_err_predictive", "_err_model", "_err"):
            if name.endswith(suf) and name[:-len(suf)] in labels:
                base, suffix = name[:-len(suf)], suf
                break
        if base in labels:
            describe[name] = (f"{apogee.TARGET_TEXT.get(base, base)} {_SHORT[suffix]}".strip(),
                              engine.label_column_description(base, suffix))
        else:
            describe[name] = INFO_COLUMNS.get(name, (name, table[name].description or name))
        units[name] = str(table[name].unit) if table[name].unit is not None else ""
    hdu = fitstable.table_hdu(table, "LABELS", describe, units, comments=(
        "astroNN labels of APOGEE spectra (Leung & Bovy 2019), written by",
        "'python -m astronn_paper predict'. TCOMMn describes column n; Teff is",
        "in K, log g and the [X/H] in dex ([X/H] relative to the Sun).",
        "<label>_err**2 = <label>_err_model**2 + <label>_err_predictive**2."))
    for key, value in table.meta.items():
        keyword, comment = META_KEYS.get(key, (key[:8].upper(), key))
        fitstable.card(hdu.header, keyword, value, comment)
    return hdu


def _primary_hdu():
    from astropy.io import fits

    hdu = fits.PrimaryHDU()
    hdu.header.add_comment("astroNN labels of APOGEE spectra: the table is in extension 1 (LABELS)")
    return hdu


def _print(table, targets, stream=None, threshold=float("nan")) -> None:
    """A compact human-readable table: one line per star, label +- total uncertainty, after
    one line saying what the numbers are and what DOMAIN_SCORE means."""
    stream = sys.stdout if stream is None else stream  # at call time (tests swap sys.stdout)
    print("labels +- total uncertainty: teff in K, logg and [X/H] in dex relative to the Sun "
          "(C1 = [C I/H], Ti2 = [Ti II/H])", file=stream)
    scores = np.asarray(table["DOMAIN_SCORE"]) if "DOMAIN_SCORE" in table.colnames else np.array([])
    if np.any(np.isfinite(scores)):
        print(f"DOMAIN_SCORE is below 1 for 98 % of spectra like the training set's; above "
              f"{threshold:.2f} the spectrum is unlike anything the network was trained on and "
              "its labels should not be trusted", file=stream)
    for row in table:
        dom = ""
        if "DOMAIN_SCORE" in row.colnames and np.isfinite(row["DOMAIN_SCORE"]):
            dom = f"  DOMAIN_SCORE {row['DOMAIN_SCORE']:.2f}"
            dom += "  OUT OF DOMAIN" if row["OUT_OF_DOMAIN"] else ""
        net = f", network {row['model']}" if "model" in row.colnames else ""
        print(f"{row['apogee_id']}  ({row['kind']}, {os.path.basename(row['file'])}{net}){dom}",
              file=stream)
        cells = []
        for t in targets:
            fmt = "{:8.1f} +- {:5.1f}" if t == "teff" else "{:7.3f} +- {:5.3f}"
            cells.append(f"  {t:>5s} " + fmt.format(row[t], row[f"{t}_err"]))
        for i in range(0, len(cells), 4):
            print("".join(cells[i:i + 4]), file=stream)


#: The network each kind of spectrum needs when no ``--model`` is given (a folder shipped at
#: the top of the repository), and why: a network expects the normalisation it was trained on.
DEFAULT_NETWORKS = {
    "apStar": (train.NETWORKS["censored"].folder, "the paper's network, trained on "
               "continuum-normalised apStar spectra"),
    "aspcapStar": (train.ASPCAP_VARIANT, "the censored network trained on ASPCAP-normalised "
                   "aspcapStar spectra"),
}


def choose_model(kind: str, model_dir=None) -> tuple[Path, str]:
    """``(folder, why)``: the network that predicts a spectrum of ``kind`` (``"apStar"`` or
    ``"aspcapStar"``, :func:`file_kind`): ``model_dir`` when given, else the shipped network
    trained on that kind (:data:`DEFAULT_NETWORKS`)."""
    if model_dir is not None:
        return Path(model_dir), "given by --model"
    name, why = DEFAULT_NETWORKS[kind]
    return config.shipped_model_dir(name), f"{why} (--model chooses another)"


def _merge_meta(metas: list[dict], labels: list[str]) -> dict:
    """One provenance dict from those of several networks: a value all share is kept as is,
    differing ones become ``"<label>: value; <label>: value"``; counts are added and a
    warning of any of them is kept."""
    out = {}
    for key in metas[0]:
        values = [m[key] for m in metas]
        if key == "n_out_of_domain":
            out[key] = int(sum(values))
        elif key == "warning":
            out[key] = next((v for v in values if v), "")
        elif all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            out[key] = "; ".join(f"{lab}: {v}" for lab, v in zip(labels, values))
    return out


def run(files, model_dir=None, mc: int | None = None, seed: int | None = None, out=None,
        progress: bool = False, profile=None) -> int:
    """Predict the labels of ``files``; returns the exit status (0 when all went well).

    Without ``model_dir`` each file goes to the network trained on its kind
    (:func:`choose_model`); ``mc`` defaults to the profile's ``mc_passes`` and the seed to the
    profile's ``predict`` seed. One line per network used says which and why (stderr)."""
    from astropy.table import Table, hstack, vstack

    from astronn_paper import __version__
    from astronn_paper.model import engine

    p = config.get_profile(profile)
    mc = p.mc_passes if mc is None else mc
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
        if len(files) > 1:         # with one file, its own error line says it all
            print("error: no usable spectrum among the files given", file=sys.stderr)
        return EXIT_BAD_INPUT
    groups: dict[Path, list[int]] = {}     # network -> indices of its spectra, in input order
    reasons: dict[Path, str] = {}
    for i, s in enumerate(spectra):
        folder, why = choose_model(s.kind, model_dir)
        groups.setdefault(folder, []).append(i)
        reasons[folder] = why
    seed = config.seed_for("predict", p) if seed is None else int(seed)
    parts, metas, labels, thresholds, printed = [], [], [], [], set()
    for folder, idx in groups.items():
        kinds = sorted({spectra[i].kind for i in idx})
        n = len(idx)
        try:
            model = engine.load_model(folder)
        except engine.ModelFolderError as exc:   # a folder, but a broken or foreign one
            print(f"error: {'--model: ' if model_dir is not None else ''}{exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"network {folder.name} for {n} {'/'.join(kinds)} file{'s' * (n != 1)}: "
              f"{reasons[folder]}", file=sys.stderr)
        trained = model_provenance(folder)
        for line in provenance_lines(trained):
            if line not in printed:               # the synthetic-survey warning once
                print(line, file=sys.stderr)
                printed.add(line)
        group = [spectra[i] for i in idx]
        x = np.stack([s.spec for s in group])
        x_err = np.stack([s.spec_err for s in group])
        pred = engine.predict(model, x, x_err, mc=mc, seed=seed, progress=progress)
        dom_score, dom_flag, dom_thr, dom_note = domain_check(folder, x, x_err)
        if dom_note:
            print(dom_note, file=sys.stderr)
        for s, sc, fl in zip(group, dom_score, dom_flag):
            if fl:
                print(f"warning: {s.apogee_id} ({s.path}): out of domain, DOMAIN_SCORE {sc:.2f} > "
                      f"{dom_thr:.2f}: unlike the training spectra, its labels are unreliable",
                      file=sys.stderr)
        info = Table({"apogee_id": [s.apogee_id for s in group],
                      "file": [s.path for s in group], "kind": [s.kind for s in group],
                      "row": np.array([s.row for s in group], np.int16),
                      "nvisits": np.array([s.nvisits for s in group], np.int16),
                      "row_rule": [s.rule for s in group],
                      "model": [folder.name] * n,
                      "DOMAIN_SCORE": np.asarray(dom_score, np.float32),
                      "OUT_OF_DOMAIN": np.asarray(dom_flag, bool)})
        part = hstack([info, pred.to_table()], metadata_conflicts="silent")
        part["_order"] = idx
        parts.append(part)
        labels.append("/".join(kinds))
        thresholds.append(dom_thr)
        metas.append({
            "engine": pred.meta["engine"], "model": str(folder.resolve()),
            "model_class": pred.meta["model_class"], "mc": pred.meta["mc"], "seed": seed,
            "normalise": "apStar: normalise.continuum; aspcapStar: normalise.aspcap",
            "trained_survey": trained["survey"],
            "trained_synthetic": "unknown" if trained["synthetic"] is None else bool(trained["synthetic"]),
            "trained_profile": trained["profile"] or "unknown",
            "trained_seed": -1 if trained["seed"] is None else int(trained["seed"]),
            "trained_n_stars": -1 if trained["n_stars"] is None else int(trained["n_stars"]),
            "domain_threshold": float(dom_thr) if np.isfinite(dom_thr) else "none",
            "n_out_of_domain": int(np.sum(dom_flag)),
            "warning": SYNTHETIC_WARNING[len("warning: "):] if trained["synthetic"] else ""})
    table = vstack(parts, metadata_conflicts="silent") if len(parts) > 1 else parts[0]
    table = table[np.argsort(np.asarray(table["_order"]), kind="stable")]
    table.remove_column("_order")
    for name, (_, description) in INFO_COLUMNS.items():
        table[name].description = description
    meta = _merge_meta(metas, labels)
    if not meta["warning"]:
        del meta["warning"]
    table.meta = {"software": f"astronn_paper {__version__}", **meta}
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
        finite = [t for t in thresholds if np.isfinite(t)]
        _print(table, pred.targetname, threshold=finite[0] if finite else float("nan"))
    return status


def argument_problems(mc=100, seed=None, out=None, model_dir=None) -> list[str]:
    """One line per bad argument of :func:`run` (empty when all are fine)."""
    problems = []
    low = config.MIN_MC_PASSES
    if isinstance(mc, bool) or not isinstance(mc, (int, np.integer)) or mc < low:
        problems.append(f"--mc {mc!r}: the number of MC-dropout passes must be an integer >= {low}")
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


def mc_passes(value: str) -> int:
    """argparse ``type=`` of every ``--mc`` option: an integer >= :data:`config.MIN_MC_PASSES`."""
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < config.MIN_MC_PASSES:
        raise argparse.ArgumentTypeError(f"{n}: the number of MC-dropout passes must be "
                                         f">= {config.MIN_MC_PASSES}")
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
               progress=len(args.files) > 200, profile=args.profile)


def register(subparsers) -> None:
    mc = ", ".join(f"{name} {prof.mc_passes}" for name, prof in config.PROFILES.items())
    p = subparsers.add_parser(
        "predict", help="labels and uncertainties of apStar / aspcapStar files",
        description="Predict the 22 labels (with total, model and predictive uncertainties) "
                    "of APOGEE apStar (DR14 or DR17, any telescope; combined spectrum, "
                    "continuum-normalised as in the paper) or aspcapStar files with the trained "
                    "network (fast MC dropout). Each file goes to the network trained on its "
                    "kind unless --model names one; prints which network and what it was "
                    "trained on.")
    p.add_argument("files", nargs="+", metavar="FILE.fits", help="apStar or aspcapStar files")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="astroNN model folder for every file (default: the shipped "
                        f"{DEFAULT_NETWORKS['apStar'][0]} for apStar and "
                        f"{DEFAULT_NETWORKS['aspcapStar'][0]} for aspcapStar files)")
    p.add_argument("--profile", default=None,
                   help="profile whose MC passes and seed are the defaults (default: "
                        "$ASTRONN_PAPER_PROFILE, else default)")
    p.add_argument("--mc", type=mc_passes, default=None,
                   help=f"MC-dropout passes, >= {config.MIN_MC_PASSES} (default: the profile's: {mc})")
    p.add_argument("--seed", type=_seed, default=None,
                   help="seed of the dropout masks, 0 .. 2**32-1 (default: the profile's)")
    p.add_argument("--out", default=None, metavar="OUT.csv|OUT.fits",
                   help="write a CSV or FITS table instead of printing")
    p.set_defaults(func=_cli)
