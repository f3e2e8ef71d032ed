"""Export the synthetic survey as a DR14 (default) or DR17 SAS mirror on disk.

Writes, under the mirror root (the folder ``SDSS_LOCAL_SAS_MIRROR`` points to), for DR14:

* ``dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/allStar-l31c.2.fits`` (all rows);
* ``.../stars/apo25m/<LOCATION_ID>/apStar-r8-<APOGEE_ID>.fits`` (apo1m: ``apo1m/<FIELD>/``)
  with the folder's ``r8_stars_apo25m_<LOCATION_ID>.sha1sum``;
* ``.../stars/l31c/l31c.2/<LOCATION_ID>/aspcapStar-r8-l31c.2-<APOGEE_ID>.fits`` with
  ``stars_l31c_l31c.2_<LOCATION_ID>.sha1sum``;
* per folder, as on the SAS, the field summaries ``apField-<LOCATION_ID>.fits`` and
  ``aspcapField-<LOCATION_ID>.fits`` (the allStar rows of the field), listed in the
  sha1sum files too (astroNN's readers of a sha1sum file need at least two lines);
* with ``release="dr17"`` the DR17 layout instead (:mod:`astronn_paper.survey.release`):
  ``dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits``,
  ``dr17/apogee/spectro/redux/dr17/stars/<TELESCOPE>/<FIELD>/apStar-dr17-<APOGEE_ID>.fits``
  (a single visit in two rows, DR17 header keywords) with ``dr17_stars_<TELESCOPE>_<FIELD>.sha1sum``,
  ``.../synspec_rev1/<TELESCOPE>/<FIELD>/aspcapStar-dr17-<APOGEE_ID>.fits`` with
  ``dr17_synspec_<TELESCOPE>_<FIELD>.sha1sum``, and ``apField-<FIELD>.fits`` /
  ``aspcapField-<FIELD>.fits``; the allStar is written in DR17's own format
  (:func:`dr17_allstar`: DR17's columns, types and order, X_H in DR17's element order with
  HDU 3's ELEM_SYMBOL, the named ``<X>_FE`` columns, DR17's flag bits, EXTRATARG with its
  duplicate bit, NaN for missing values), and so are the field summaries and the aspcapStar
  HDU 4 rows; the spectra are the same as DR14's;
* ``astronn_paper_synthetic/``: ``truth.fits`` (one row per allStar row),
  ``members_meszaros2013.txt`` (cluster membership, Meszaros et al. 2013 layout) and
  ``provenance.json`` (seed, generator fingerprint, package version, exported rows).

Every file is written atomically; a star whose files exist and are listed in their
folders' sha1sum files is not written again, so an interrupted export resumes. The same
seed gives byte-identical files.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from astronn_paper import apogee, cache
from astronn_paper.progress import bar as progress_bar
from astronn_paper.survey import formats
from astronn_paper.survey import mirror as _mirror
from astronn_paper.survey import release as release_
from astronn_paper.survey.meszaros import format_meszaros
from astronn_paper.survey.source import ApStar
from astronn_paper.synth.source import SyntheticSource
from astronn_paper.synth import catalog as _catalog


def default_rows(source: SyntheticSource, selected: Iterable[np.ndarray]) -> np.ndarray:
    """allStar rows to export: the rows ``selected`` (e.g. a profile's training and test
    selections, chosen by the caller) plus every cluster member, sorted."""
    parts = [np.asarray(rows, np.int64) for rows in selected]
    parts.append(np.flatnonzero(source.truth()["cluster"] != b""))
    return np.unique(np.concatenate(parts)).astype(np.int64)


def rows_from_ids(source: SyntheticSource, lines) -> np.ndarray:
    """allStar rows from lines holding allStar indices or APOGEE_IDs (every row of an ID)."""
    allstar = source.allstar()
    out, unknown = [], []
    ids = allstar["APOGEE_ID"]
    for line in lines:
        tok = line.strip().split("#")[0].strip()
        if not tok:
            continue
        if tok.isdigit():
            out.append(np.array([int(tok)]))
        else:
            hit = np.flatnonzero(ids == tok.encode())
            (out.append(hit) if hit.size else unknown.append(tok))
    if unknown:
        raise ValueError(f"{len(unknown)} APOGEE_IDs not in the synthetic allStar, e.g. {unknown[:3]}")
    return np.unique(np.concatenate(out)) if out else np.empty(0, np.int64)


def _rv_table(star, row) -> np.ndarray:
    nv = star.nvisits
    t = np.zeros(nv, dtype=[("VISIT", ">i2"), ("MJD", ">i4"), ("SNR", ">f4"), ("VHELIO", ">f4"),
                            ("VREL", ">f4"), ("VRELERR", ">f4"), ("STARFLAG", ">i4")])
    t["VISIT"] = np.arange(1, nv + 1)
    t["MJD"] = 56000 + 30 * np.arange(nv)
    t["SNR"] = star.visit_snr()
    t["VHELIO"] = float(row["VHELIO_AVG"])
    t["VREL"] = float(row["VHELIO_AVG"])
    t["VRELERR"] = float(row["VERR"])
    t["STARFLAG"] = int(row["STARFLAG"])
    return t


_ASPCAP_COLUMNS = ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "SNR", "ASPCAPFLAG", "PARAM",
                   "FPARAM", "TEFF", "LOGG", "M_H", "ALPHA_M", "X_H", "X_H_ERR")


def _aspcap_row(row) -> np.ndarray:
    return _columns(np.atleast_1d(row), _ASPCAP_COLUMNS)


#: allStar columns of the field summary files.
_FIELD_COLUMNS = ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "RA", "DEC", "J", "H", "K",
                  "NVISITS", "SNR", "STARFLAG", "VHELIO_AVG", "VSCATTER")


def _write_field_files(root: Path, allstar: np.ndarray, folders: set, aspcap: bool,
                       layout: release_.Layout) -> dict:
    """apField / aspcapField summaries (all allStar rows of the field) of the touched
    folders (``(TELESCOPE, folder)`` keys of ``layout``); returns
    ``{(folder, sha1sum_name): [file names]}``."""
    out = defaultdict(list)
    keys = np.array([layout.folder_key(t, loc, f) for t, loc, f in
                     zip(allstar["TELESCOPE"], allstar["LOCATION_ID"], allstar["FIELD"])]) if folders else None
    for tel, key in sorted(folders):
        rows = allstar[(keys[:, 0] == tel) & (keys[:, 1] == key)]
        first = rows[0]
        args = (first["TELESCOPE"], first["LOCATION_ID"], first["FIELD"])
        ap = root / layout.apstar_relpath(first["APOGEE_ID"], *args)
        name = layout.apfield_name(*args)
        formats.write_allstar(ap.parent / name, _columns(rows, _FIELD_COLUMNS))
        out[(ap.parent, layout.apstar_sha1sum_name(*args))].append(name)
        if aspcap:
            asp = root / layout.aspcapstar_relpath(first["APOGEE_ID"], *args)
            name = layout.aspcapfield_name(*args)
            formats.write_allstar(asp.parent / name, _columns(rows, _ASPCAP_COLUMNS))
            out[(asp.parent, layout.aspcapstar_sha1sum_name(*args))].append(name)
    return out


def as_release(star: ApStar, row, release: str = "dr14") -> ApStar:
    """An in-memory apStar (DR14 rows and keywords) as ``release`` writes it: DR17 keeps a
    single visit in two rows and has its own header keywords
    (:func:`astronn_paper.survey.release.apstar_header`)."""
    if release_.check(release) == "dr14":
        return star
    nv = star.nvisits
    return ApStar(apogee_id=star.apogee_id,
                  flux=release_.to_release_rows(star.flux, nv, release),
                  err=release_.to_release_rows(star.err, nv, release),
                  bitmask=release_.to_release_rows(star.bitmask, nv, release),
                  header=release_.apstar_header(star.header, release, row), path=star.path)


# ----------------------------------------------------------------------------- DR17 allStar
#: ORIGIN of the DR17 allStar header, and the version of the format the export writes (a
#: mirror whose DR17 allStar has another is rewritten).
DR17_ORIGIN = "astronn_paper synthetic DR14 survey, DR17 allStar format"
DR17_FORMAT = "dr17-allstar-1"


def _nan(a) -> np.ndarray:
    """float32 with the synthetic survey's -9999 as NaN (DR17's missing value)."""
    a = np.asarray(a, np.float32)
    return np.where(a <= apogee.MISSING, np.float32(np.nan), a)


def dr17_allstar(allstar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic allStar (DR14 columns) as a real DR17 allStar has it: ``(table, key,
    fields)`` for HDUs 1, 3 and 4 (:func:`formats.write_allstar_dr17`).

    The same stars and values, in DR17's format (:mod:`astronn_paper.survey.release`): DR17's
    columns, types and order (:data:`release.DR17_EXPORT_COLUMNS`); X_H / X_H_ERR in DR17's
    element order (HDU 3 ELEM_SYMBOL; Ce, Cu, Ge, Nd, Rb carried over, DR14's Y dropped, Yb and
    13C empty); STARFLAG / ANDFLAG / ASPCAPFLAG translated to DR17's bits by name; PARAM in
    DR17's PARAM_SYMBOL order (log10 vmicro, log10 vsini); the named columns filled as the DR17
    pipeline fills them (empty where ASPCAPFLAG has a BAD bit); EXTRATARG (TELLURIC, APO1M, and
    DUPLICATE on every row of a star but its highest-SNR one); NaN for the survey's -9999. The
    synthetic survey models no per-parameter or per-element flags: PARAMFLAG and ``<X>_FE_FLAG``
    are 0.
    """
    r = release_
    n = len(allstar)
    t = np.zeros(n, dtype=[c if len(c) == 3 else (c[0], c[1]) for c in r.DR17_EXPORT_COLUMNS])
    tel = np.char.strip(allstar["TELESCOPE"].astype("S"))
    ids = np.char.strip(allstar["APOGEE_ID"].astype("S"))
    prefix = np.where(tel == b"lco25m", b"asStar-dr17-", b"apStar-dr17-")
    t["FILE"] = np.char.add(np.char.add(prefix, ids), b".fits")
    for name in ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "RA", "DEC", "GLON", "GLAT",
                 "J", "J_ERR", "H", "H_ERR", "K", "K_ERR", "AK_TARG", "APOGEE_TARGET1",
                 "APOGEE_TARGET2", "NVISITS", "SNR", "VHELIO_AVG", "VSCATTER", "VERR"):
        t[name] = allstar[name]
    t["SNREV"] = allstar["SNR"]
    for name in ("STARFLAG", "ANDFLAG"):
        t[name] = r.translate_bits(allstar[name], _catalog.STARFLAG_BITS, r.DR17_STARFLAG_BITS, name)
    aspcapflag = r.translate_bits(allstar["ASPCAPFLAG"], _catalog.ASPCAPFLAG_BITS,
                                  r.DR17_ASPCAPFLAG_BITS, "ASPCAPFLAG")
    t["ASPCAPFLAG"] = aspcapflag
    # the DR17 pipeline fills the named columns only where ASPCAPFLAG has no BAD bit
    good = (aspcapflag & r.bits_value(r.DR17_ASPCAPFLAG_BITS, r.DR17_ASPCAPFLAG_BAD)) == 0

    def log10(a):
        a = np.asarray(a, np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, np.log10(np.where(a > 0, a, 1)), np.nan).astype(np.float32)

    dr14_param = {name: k for k, name in enumerate(apogee.PARAM_NAMES)}
    for dst, src in (("PARAM", "PARAM"), ("FPARAM", "FPARAM")):
        p = np.asarray(allstar[src], np.float32)
        cols = {"TEFF": p[:, dr14_param["TEFF"]], "LOGG": p[:, dr14_param["LOGG"]],
                "LOGVMICRO": log10(_nan(p[:, dr14_param["VMICRO"]])), "M_H": p[:, dr14_param["M_H"]],
                "C_M": p[:, dr14_param["C_M"]], "N_M": p[:, dr14_param["N_M"]],
                "ALPHA_M": p[:, dr14_param["ALPHA_M"]], "LGVSINI": log10(_nan(p[:, dr14_param["VSINI"]])),
                "PARAM_O": np.full(n, np.nan, np.float32)}
        t[dst] = np.stack([_nan(cols[s]) for s in r.DR17_PARAM_SYMBOL], axis=1)
    dr14 = {r.element_key(e): k for k, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    for dst in ("X_H", "X_H_ERR"):
        src = np.asarray(allstar[dst], np.float32)
        t[dst] = np.stack([_nan(src[:, dr14[r.element_key(e)]]) if r.element_key(e) in dr14
                           else np.full(n, np.nan, np.float32) for e in r.DR17_ELEM_SYMBOL], axis=1)
    ext = np.zeros(n, np.int64)
    bits = r.DR17_EXTRATARG_BITS
    telluric = (np.asarray(allstar["APOGEE_TARGET2"]).astype(np.int64) & (1 << 9)) != 0  # APOGEE_TELLURIC
    apo1m = tel == b"apo1m"
    ext |= np.where(telluric | apo1m, 1 << bits["NOT_MAIN"], 0)
    ext |= np.where(telluric, 1 << bits["TELLURIC"], 0)
    ext |= np.where(apo1m, 1 << bits["APO1M"], 0)
    ext |= np.where(r.dr17_duplicate_flags(allstar["APOGEE_ID"], allstar["SNR"]), 1 << bits["DUPLICATE"], 0)
    t["EXTRATARG"] = ext
    for name in ("TEFF", "TEFF_ERR", "LOGG", "LOGG_ERR", "M_H", "M_H_ERR", "ALPHA_M", "ALPHA_M_ERR",
                 "VMICRO", "VMACRO", "VSINI"):
        t[name] = np.where(good, _nan(allstar[name]), np.float32(np.nan))
    xh, xh_err = np.asarray(allstar["X_H"], np.float32), np.asarray(allstar["X_H_ERR"], np.float32)
    fe = xh[:, dr14["FE"]]
    for e in r.DR17_NAMED_ELEMENTS:
        name, key = r.named_column(e), r.element_key(e)
        if key not in dr14:
            t[name] = t[f"{name}_ERR"] = np.nan
            continue
        x = xh[:, dr14[key]]
        ok = good & (x > apogee.MISSING) & ((fe > apogee.MISSING) | (key == "FE"))
        value = allstar[name] if name in allstar.dtype.names else (x if key == "FE" else x - fe)
        t[name] = np.where(ok, value, np.float32(np.nan))
        t[f"{name}_ERR"] = np.where(ok, _nan(xh_err[:, dr14[key]]), np.float32(np.nan))
    fields = np.unique(np.stack([tel, np.char.strip(allstar["FIELD"].astype("S"))], axis=1), axis=0)
    f = np.zeros(len(fields), r.DR17_FIELDS_DTYPE)
    f["TELESCOPE"], f["FIELD"], f["APOGEE_VERS"] = fields[:, 0], fields[:, 1], b"dr17"
    return t, r.dr17_key_row(), f


def _columns(rows: np.ndarray, names) -> np.ndarray:
    out = np.zeros(len(rows), dtype=[(n, rows.dtype[n]) for n in names])
    for n in names:
        out[n] = rows[n]
    return out


def export_mirror(root, source: SyntheticSource, rows, *, aspcap: bool = True, batch: int = 32,
                  progress: bool = True, lite: bool = False, release: str = "dr14") -> dict:
    """Export allStar (all rows), the apStar and aspcapStar files of ``rows``, their sha1sum
    files, the truth and membership tables into the mirror at ``root``. Returns a summary.

    ``lite`` writes the apStar sky and telluric HDUs (4-7, which the synthetic survey does
    not model separately) empty: same HDU numbering, ~55 % less disk. ``release`` (``"dr14"``
    or ``"dr17"``) chooses the SAS layout, the apStar row rule and header keywords
    (:mod:`astronn_paper.survey.release`); one root can hold both releases of one seed."""
    from astronn_paper import __version__

    root = Path(root).expanduser().resolve()
    release = release_.check(release)
    layout = release_.layout(release)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    synth_dir = root / _mirror.SYNTH_DIR
    prov_path = synth_dir / _mirror.PROVENANCE_FILE
    if prov_path.is_file():
        old = json.loads(prov_path.read_text())
        if old.get("seed") != source.seed:
            raise ValueError(f"{root} already holds the synthetic survey of seed {old.get('seed')}; "
                             f"refusing to mix in seed {source.seed} (use another --mirror folder)")
    allstar = source.allstar()

    # tables
    allstar_path = root / layout.allstar_relpath
    header = {"ORIGIN": "astronn_paper synthetic DR14", "SYNSEED": source.seed,
              "SYNFP": source.fingerprint()}
    dr17 = None                          # DR17: (HDU 1, 3, 4) of the allStar in DR17's format
    if release == "dr17":
        header17 = {**header, "ORIGIN": DR17_ORIGIN, "SYNFMT": DR17_FORMAT}
        dr17 = dr17_allstar(allstar)
        if not _same_generator(allstar_path, header17):
            formats.write_allstar_dr17(allstar_path, *dr17, header=header17)
    elif not _same_generator(allstar_path, header):  # the tables depend only on seed and generator
        formats.write_allstar(allstar_path, allstar, header)
    truth_path = synth_dir / _mirror.TRUTH_FILE
    if not _same_generator(truth_path, header):
        formats.write_allstar(truth_path, source.truth(), header)
    rows_as_written = allstar if dr17 is None else dr17[0]   # field files, aspcapStar HDU 4
    cache.atomic_write_bytes(synth_dir / _mirror.MEMBERS_FILE,
                              format_meszaros(_catalog.membership_rows(source.catalog)).encode())

    # spectra
    sums_cache: dict[Path, dict[str, str]] = {}

    def listed(path: Path, sums_name: str) -> bool:
        sp = path.parent / sums_name
        if sp not in sums_cache:
            sums_cache[sp] = formats.read_sha1sum(sp) if sp.is_file() else {}
        return path.is_file() and path.name in sums_cache[sp]

    plan = []
    for i in rows:
        r = allstar[i]
        args = (r["TELESCOPE"], r["LOCATION_ID"], r["FIELD"])
        ap = root / layout.apstar_relpath(r["APOGEE_ID"], *args)
        ap_sums = layout.apstar_sha1sum_name(*args)
        asp = root / layout.aspcapstar_relpath(r["APOGEE_ID"], *args)
        asp_sums = layout.aspcapstar_sha1sum_name(*args)
        done = listed(ap, ap_sums) and (not aspcap or listed(asp, asp_sums))
        plan.append((int(i), ap, ap_sums, asp, asp_sums, done))
    todo = [p for p in plan if not p[5]]

    written: dict[tuple[Path, str], list[str]] = defaultdict(list)
    folders = {layout.folder_key(allstar["TELESCOPE"][p[0]], allstar["LOCATION_ID"][p[0]],
                                 allstar["FIELD"][p[0]]) for p in todo}
    for k, v in _write_field_files(root, rows_as_written, folders, aspcap, layout).items():
        written[k].extend(v)
    bar = progress_bar(progress, total=len(todo), desc="synthetic spectra", unit="star")
    try:
        for a in range(0, len(todo), batch):
            chunk = todo[a:a + batch]
            stars = source.apstars([c[0] for c in chunk])
            for (i, ap, ap_sums, asp, asp_sums, _), star in zip(chunk, stars):
                r = allstar[i]
                formats.write_apstar(ap, as_release(star, r, release), rv_table=_rv_table(star, r),
                                     lite=lite, release=release)
                written[(ap.parent, ap_sums)].append(ap.name)
                if aspcap:
                    s = source.aspcapstar(i, apstar=star)
                    formats.write_aspcapstar(asp, s, best_fit=source.intrinsic([i])[0],
                                             aspcap_row=_aspcap_row(rows_as_written[i]))
                    written[(asp.parent, asp_sums)].append(asp.name)
                bar.update(1)
            if (a // batch) % 20 == 19:  # checkpoint the checksums now and then
                _flush_sums(written)
    finally:
        _flush_sums(written)
        bar.close()

    n_files = len(plan) * (2 if aspcap else 1)
    size = sum(p.stat().st_size for _, ap, _, asp, _, _ in plan for p in ((ap, asp) if aspcap else (ap,))
               if p.is_file())  # the spectra of these rows only
    summary = {
        "root": str(root), "seed": source.seed, "generator_fingerprint": source.fingerprint(),
        "package_version": __version__, "n_rows_exported": int(len(rows)),
        "n_written": len(todo), "n_spectrum_files": n_files, "spectra_bytes": int(size),
        "aspcap": bool(aspcap), "lite": bool(lite), "release": release,
    }
    prev = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    all_rows = sorted(set(prev.get("rows", [])) | set(int(i) for i in rows))
    releases = sorted(set(prev.get("releases", [prev["release"]] if "release" in prev else
                                   (["dr14"] if prev else []))) | {release})
    cache.atomic_write_bytes(prov_path, json.dumps({**summary, "rows": all_rows, "releases": releases},
                                                   indent=1).encode())
    return summary


def _same_generator(path: Path, header: dict) -> bool:
    """Whether the FITS table at ``path`` was written by the same seed and generator (and, for
    a DR17 allStar, in the same format version ``SYNFMT``)."""
    from astropy.io import fits

    try:
        h = fits.getheader(path, 0)
    except (OSError, ValueError):
        return False
    return (h.get("SYNSEED") == header["SYNSEED"] and h.get("SYNFP") == header["SYNFP"]
            and h.get("SYNFMT") == header.get("SYNFMT"))


def _flush_sums(written) -> None:
    for (folder, name), files in list(written.items()):
        if files:
            formats.update_sha1sum(folder, name, files)
            files.clear()

