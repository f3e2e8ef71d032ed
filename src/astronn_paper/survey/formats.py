"""Readers and writers of the APOGEE DR14 / DR17 file formats (allStar, apStar, aspcapStar, sha1sum).

Layouts (SDSS DR14 data model, as real files have them):

* **allStar** ``allStar-l31c.2.fits``: HDU 1 a binary table, one row per star and field.
* **apStar** ``apStar-r8-<APOGEE_ID>.fits``: HDU 0 the master header (NVISITS, SNR,
  SNRVIS<n>, RA, DEC, VHELIO, STARFLAG, OBJID, ...); images of shape (nrows, 8575)
  (1-d with one visit): HDU 1 flux (1e-17 erg/s/cm^2/A), 2 error, 3 PIXMASK bitmask, 4 sky,
  5 sky error, 6 telluric, 7 telluric error (each with the log-linear wavelength WCS
  ``CRVAL1 = 4.179``, ``CDELT1 = 6e-6``), 8 LSF coefficients, 9 the visits' RV table.
  With NVISITS > 1 row 0 is the pixel-weighted and row 1 the global-weighted combination,
  rows 2.. the visits.
* **DR17 apStar** ``apStar-dr17-<APOGEE_ID>.fits`` (``asStar-`` from lco25m): the same
  HDUs 1-7, always 2-d (a single-visit star has two rows, row 0 the combined spectrum),
  HDU 8 empty, 9 the visits' table, 10 a one-row table; DR17 header keywords
  (:func:`astronn_paper.survey.release.apstar_header`). The row rules of both releases:
  :func:`astronn_paper.survey.release.apstar_rows`.
* **aspcapStar** ``aspcapStar-r8-l31c.2-<APOGEE_ID>.fits``: HDU 1 ASPCAP-normalised flux,
  2 error, 3 best-fitting synthetic spectrum (8575 pixels each, 0 in the chip gaps),
  4 the ASPCAP table of the star.
* **sha1sum** files: lines ``<sha1>  <filename>``, one per file of the folder.
* **DR17 allStar** ``allStar-dr17-synspec_rev1.fits`` (:func:`write_allstar_dr17`,
  :func:`read_allstar` with ``release="dr17"``): HDU 1 the table with DR17's own columns
  (X_H in the order of HDU 3's ELEM_SYMBOL, named ``<X>_FE`` columns, int64 flags, EXTRATARG),
  HDU 2 an int64 image, HDU 3 one row (WAVE, PARAM_SYMBOL, ELEM_SYMBOL, ELEMTOH, ELEM_VALUE,
  GRIDS), HDU 4 the fields; read through its chain view
  (:func:`astronn_paper.survey.release.chain_view_dr17`). The facts and their sources:
  :mod:`astronn_paper.survey.release`.

Readers raise :class:`~astronn_paper.survey.source.SpectrumError` (``missing_file`` via
:class:`~astronn_paper.survey.source.MirrorFileMissing`, ``bad_checksum``, ``corrupt_fits``,
``bad_layout``) with messages naming the file. Writers are atomic (temporary name, then
``os.replace``) and deterministic (same arrays -> same bytes).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from astronn_paper import apogee
from astronn_paper.cache import atomic_write_bytes, file_sha1
from astronn_paper.survey.release import DEFAULT_RELEASE
from astronn_paper.survey.types import (
    ApStar,
    AspcapStar,
    MirrorFileMissing,
    SpectrumError,
)

#: EXTNAME-like description of each apStar HDU (written as the HDU's comment keyword).
APSTAR_HDU_NAMES = {1: "FLUX", 2: "ERROR", 3: "MASK", 4: "SKY", 5: "SKYERR", 6: "TELLURIC",
                    7: "TELERR", 8: "LSF", 9: "RV"}
ASPCAPSTAR_HDU_NAMES = {1: "FLUX", 2: "ERROR", 3: "BESTFIT", 4: "ASPCAP"}
#: Commentary header keys, left out of a header read as a dict (the structural keys, SIMPLE,
#: BITPIX, NAXISn and so on, go by ``Header.copy(strip=True)``).
_COMMENTARY = {"COMMENT", "HISTORY", ""}


# ----------------------------------------------------------------------------- helpers
def _atomic_writeto(hdul, path: os.PathLike) -> None:
    import io

    buf = io.BytesIO()
    hdul.writeto(buf, output_verify="exception")
    atomic_write_bytes(path, buf.getvalue())


def read_sha1sum(path: os.PathLike) -> dict[str, str]:
    """``{filename: sha1}`` from a sha1sum file (lines ``<sha1>  <filename>``)."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                out[parts[-1].lstrip("*")] = parts[0].lower()
    return out


def write_sha1sum(path: os.PathLike, entries: dict[str, str]) -> None:
    """Write ``{filename: sha1}`` as a sha1sum file, sorted by file name (atomic)."""
    text = "".join(f"{h}  {name}\n" for name, h in sorted(entries.items()))
    atomic_write_bytes(path, text.encode())


def update_sha1sum(folder: os.PathLike, sha1sum_name: str, filenames) -> None:
    """Add/refresh the entries of ``filenames`` (in ``folder``) in its sha1sum file."""
    folder = Path(folder)
    path = folder / sha1sum_name
    entries = read_sha1sum(path) if path.exists() else {}
    for name in filenames:
        entries[name] = file_sha1(folder / name)
    write_sha1sum(path, entries)


def _header_dict(header) -> dict:
    """The keywords of a FITS header that describe the star: no structure, no commentary."""
    kept = header.copy(strip=True)
    return {k: kept[k] for k in kept if k not in _COMMENTARY}


def _wcs_header(extname: str):
    from astropy.io import fits

    h = fits.Header()
    h["EXTNAME"] = extname
    h["CRVAL1"] = (apogee.CRVAL1, "log10(lambda/A) of the first pixel")
    h["CDELT1"] = (apogee.CDELT1, "log10(lambda/A) step per pixel")
    h["CRPIX1"] = 1
    h["CTYPE1"] = "LOG-LINEAR"
    h["DC-FLAG"] = 1
    return h


def _open_checked(path, sha1: str | None, verify_hdus: int | None = None):
    """Open a FITS file for reading after the existence and checksum checks.

    ``verify_hdus`` (default: all) limits the card-by-card verification to the first HDUs, the
    ones a reader uses (apStar files carry sky, telluric, LSF and RV HDUs the chain never
    reads). Without a checksum every header is read, so that a file shorter than its headers
    announce (truncated) is ``corrupt_fits``; with a verified checksum (the mirror's
    ``.sha1sum`` entry) the file is as the SAS wrote it, and the reader parses only the headers
    it uses.
    """
    import warnings

    from astropy.io import fits

    path = str(path)
    if not os.path.isfile(path):
        raise MirrorFileMissing(path)
    if sha1 is not None:
        got = file_sha1(path)
        if got != sha1.lower():
            raise SpectrumError("bad_checksum", f"{path}: SHA-1 {got} does not match the "
                                f"folder's sha1sum entry {sha1.lower()} (corrupted or replaced file)", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", fits.verify.VerifyWarning)   # truncation -> raise
            warnings.filterwarnings("error", message="File may have been truncated")
            hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
            if sha1 is not None and verify_hdus is not None:
                # the checksum vouches for the file (as the SAS wrote it): the reader parses
                # only the headers it uses, lazily, and astropy checks them as it does
                return hdul
            n = len(hdul)                                   # reads every header
        last = hdul[n - 1]
        try:    # where the last HDU's data ends (astropy's fileinfo() is 5 ms slower per file)
            end = last._data_offset + last._data_size
        except AttributeError:                      # pragma: no cover - other astropy versions
            info = hdul.fileinfo(n - 1)
            end = info["datLoc"] + info["datSpan"]
        if os.path.getsize(path) < end:
            raise OSError(f"truncated: {os.path.getsize(path)} bytes, the headers announce {end}")
        for k in range(n if verify_hdus is None else min(n, verify_hdus)):
            hdul[k].verify("exception")
    except Exception as exc:  # astropy raises OSError/TypeError/ValueError on damaged files
        raise SpectrumError("corrupt_fits", f"{path}: not a readable FITS file ({exc})", path) from exc
    return hdul


def _image(hdul, k: int, path: str, what: str) -> np.ndarray:
    try:
        hdu = hdul[k]          # lazily: reads the headers up to HDU k only
    except IndexError:
        raise SpectrumError("bad_layout", f"{path}: HDU {k} ({what}) is missing: the file has "
                            f"{len(hdul)} HDUs", path) from None
    try:
        data = hdu.data
    except Exception as exc:
        raise SpectrumError("corrupt_fits", f"{path}: HDU {k} ({what}) cannot be read: truncated or "
                            f"damaged FITS file ({exc})", path) from exc
    if data is None:
        raise SpectrumError("bad_layout", f"{path}: HDU {k} ({what}) holds no data", path)
    return np.asarray(data)


# ----------------------------------------------------------------------------- allStar
def write_allstar(path: os.PathLike, allstar: np.ndarray, header: dict | None = None) -> None:
    """Write an allStar table (structured array) as HDU 1 of a FITS file (atomic)."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    for k, v in (header or {}).items():
        primary.header[k] = v
    table = fits.BinTableHDU(np.asarray(allstar), name="ALLSTAR")
    _atomic_writeto(fits.HDUList([primary, table]), path)


def column_widths(hdu) -> dict[str, int]:
    """``{name: number of elements}`` of the columns of a FITS binary table HDU, from its
    header (strings count as one element, whatever their width)."""
    out = {}
    for c in hdu.columns:
        fmt = c.format
        if getattr(fmt, "format", "") == "A":
            out[c.name] = 1 if not c.dim else int(np.prod(_dims(c.dim)[1:]) or 1)
        else:
            out[c.name] = int(fmt.repeat or 1)
    return out


def _dims(dim) -> tuple[int, ...]:
    return tuple(int(x) for x in str(dim).strip("() ").split(",") if x.strip())


def read_allstar(path: os.PathLike, columns=None, release: str | None = None) -> np.ndarray:
    """The allStar table (HDU 1) as a numpy structured array (FITS dtypes, big-endian).

    ``columns`` (names) keeps only those, in that order: the real DR14 file has ~200
    columns and several GB, most of which the chain never reads. ``release``: ``None`` reads
    any FITS table as it is; ``"dr14"`` first checks the columns the chain reads against the
    DR14 data model; ``"dr17"`` reads a DR17 allStar through its chain view (DR14 column
    names, :func:`astronn_paper.survey.release.chain_view_dr17`; ``columns`` names columns of
    the view). A file that does not follow the data model of ``release`` raises
    :class:`~astronn_paper.survey.release.AllStarFormatError` (one line: the column and the
    release).
    """
    from astropy.io import fits

    from astronn_paper.survey import release as release_

    if release is not None and release_.check(release) == "dr17":
        view = read_allstar_dr17(path)
        if columns is None:
            return view
        missing = [c for c in columns if c not in view.dtype.names]
        if missing:
            raise SpectrumError("bad_layout", f"{path}: the chain view of a DR17 allStar has no "
                                f"column(s) {missing}; it has {', '.join(view.dtype.names)}", str(path))
        out = np.empty(len(view), dtype=[(n, view.dtype[n]) for n in columns])
        for name in columns:
            out[name] = view[name]
        return out
    path = str(path)
    if not os.path.isfile(path):
        raise MirrorFileMissing(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
                raise SpectrumError("bad_layout", f"{path}: HDU 1 is not the allStar binary table", path)
            if release is not None:
                release_.check_allstar_columns(path, column_widths(hdul[1]), release)
            data = hdul[1].data
            names = list(data.dtype.names) if columns is None else list(columns)
            missing = [c for c in names if c not in data.dtype.names]
            if missing:
                raise SpectrumError("bad_layout", f"{path}: allStar has no column(s) {missing}", path)
            out = np.empty(len(data), dtype=[(n, data.dtype[n]) for n in names])
            for name in names:
                out[name] = data[name]
    except SpectrumError:
        raise
    except Exception as exc:
        raise SpectrumError("corrupt_fits", f"{path}: not a readable allStar FITS file ({exc})", path) from exc
    return out


def write_allstar_dr17(path: os.PathLike, table: np.ndarray, key: np.ndarray, fields: np.ndarray,
                       header: dict | None = None) -> None:
    """Write a DR17 allStar (atomic): HDU 0 ``header`` (with DR17's VERSION keyword), HDU 1
    ``table`` (DR17 columns), HDU 2 an int64 image of 360 zeros (the data model gives only its
    type and size), HDU 3 ``key`` (one row: WAVE, PARAM_SYMBOL, ELEM_SYMBOL, ELEMTOH,
    ELEM_VALUE, GRIDS), HDU 4 ``fields`` (TELESCOPE, FIELD, APOGEE_VERS)."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header["VERSION"] = (1.0, "Code version")
    for k, v in (header or {}).items():
        primary.header[k] = v
    hdus = [primary, fits.BinTableHDU(np.asarray(table)), fits.ImageHDU(np.zeros(360, np.int64)),
            fits.BinTableHDU(np.asarray(key)), fits.BinTableHDU(np.asarray(fields))]
    _atomic_writeto(fits.HDUList(hdus), path)


def read_allstar_dr17(path: os.PathLike) -> np.ndarray:
    """The chain view of the DR17 allStar at ``path``
    (:func:`astronn_paper.survey.release.chain_view_dr17`): only the columns it needs are read
    (memory-mapped), the element and parameter order from HDU 3's ELEM_SYMBOL / PARAM_SYMBOL.
    Raises :class:`~astronn_paper.survey.release.AllStarFormatError` when a column of the DR17
    data model the chain reads is missing, :class:`SpectrumError` for an unreadable file."""
    from astropy.io import fits

    from astronn_paper.survey import release as release_

    path = str(path)
    if not os.path.isfile(path):
        raise MirrorFileMissing(path)
    try:
        with fits.open(path, memmap=True) as hdul:
            if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
                raise SpectrumError("bad_layout", f"{path}: HDU 1 is not the allStar binary table", path)
            widths = column_widths(hdul[1])
            release_.check_allstar_columns(path, widths, "dr17")
            elem = param = None
            if len(hdul) > 3 and isinstance(hdul[3], fits.BinTableHDU) and len(hdul[3].data):
                key = hdul[3].data
                if "ELEM_SYMBOL" in key.names:
                    elem = [release_.as_text(e) for e in np.atleast_1d(key["ELEM_SYMBOL"][0])]
                if "PARAM_SYMBOL" in key.names:
                    param = [release_.as_text(e) for e in np.atleast_1d(key["PARAM_SYMBOL"][0])]
            data = hdul[1].data
            names = [n for n in release_.DR17_REQUIRED + release_.DR17_OPTIONAL if n in widths]
            names += [f"{release_.named_column(e)}{s}" for e in release_.DR17_NAMED_ELEMENTS
                      for s in ("", "_ERR", "_FLAG")]
            names = [n for n in dict.fromkeys(names) if n in widths]
            raw = {name: np.array(data[name]) for name in names}      # contiguous copies
            del data
    except SpectrumError:
        raise
    except Exception as exc:
        raise SpectrumError("corrupt_fits", f"{path}: not a readable allStar FITS file ({exc})", path) from exc
    return release_.chain_view_dr17(raw, elem, param)


# ----------------------------------------------------------------------------- apStar
def write_apstar(path: os.PathLike, star: ApStar, *, sky=None, sky_err=None, telluric=None,
                 telluric_err=None, lsf=None, rv_table: np.ndarray | None = None,
                 lite: bool = False, release: str = DEFAULT_RELEASE) -> None:
    """Write an apStar file with the HDU layout of ``release`` (atomic, deterministic).

    ``star.header`` goes to the primary header (NVISITS, SNR, SNRVIS<n>, RA, DEC, ...; see
    :func:`astronn_paper.survey.release.apstar_header` for DR17's keywords). The rows must
    follow the release's row rule (:mod:`astronn_paper.survey.release`): DR14 one row for
    one visit (written as 1-d images), DR17 two; N + 2 for N >= 2 visits. Missing sky /
    telluric arrays are written as zeros / ones of the flux's shape, or, with ``lite``, as
    empty image HDUs (same HDU numbering, ~55 % less disk). DR17 files carry HDU 8 empty
    (DR17 keeps the LSF in apStarLSF files), HDU 9 the visits' table and HDU 10 a one-row
    table of the combined spectrum's RV fit.
    """
    from astropy.io import fits

    from astronn_paper.survey import release as release_

    flux = np.asarray(star.flux, np.float32)
    shape = flux.shape
    if flux.ndim != 2 or shape[1] != apogee.N_PIX:
        raise ValueError(f"write_apstar: flux must be (nrows, {apogee.N_PIX}), got {shape}")
    nv = int(star.header.get("NVISITS", 1))
    dr17 = release_.check(release) == "dr17"
    if shape[0] != release_.apstar_nrows(nv, release):
        raise ValueError(f"write_apstar: {shape[0]} rows for NVISITS={nv} ({release} writes "
                         f"{release_.apstar_nrows(nv, release)})")

    def img(a, dtype, default):
        a = np.full(shape, default, dtype) if a is None else np.asarray(a, dtype).reshape(shape)
        return a[0] if shape[0] == 1 else a  # one visit: 1-d images, as DR14

    primary = fits.PrimaryHDU()
    for k, v in star.header.items():
        primary.header[k] = v
    hdus = [primary]
    arrays = [(flux, np.float32, 0.0), (star.err, np.float32, 0.0), (star.bitmask, np.int16, 0),
              (sky, np.float32, 0.0), (sky_err, np.float32, 0.0), (telluric, np.float32, 1.0),
              (telluric_err, np.float32, 0.0)]
    for k, (a, dtype, default) in enumerate(arrays, start=1):
        data = None if (lite and k >= 4 and a is None) else img(a, dtype, default)
        header = _wcs_header(APSTAR_HDU_NAMES[k])
        if dr17 and k in (1, 2, 4, 5):
            header["BUNIT"] = "Flux (10^-17 erg/s/cm^2/Ang)"
        hdus.append(fits.ImageHDU(data, header=header))
    if dr17:
        lsf = np.zeros((0,)) if lsf is None else lsf   # DR17: LSF in apStarLSF, HDU 8 empty
    if lsf is None:  # Gaussian LSF at R = 22,500: sigma in pixels, one row per spectrum row
        sigma = 1.0 / (2.3548 * apogee.RESOLUTION * apogee.CDELT1 * np.log(10.0))
        lsf = np.zeros((shape[0], 3))
        lsf[:, 0] = sigma
    lsf = np.asarray(lsf, np.float64)
    lsf_hdu = fits.ImageHDU(lsf if lsf.size else None, name=APSTAR_HDU_NAMES[8])
    if lsf.size:
        lsf_hdu.header["COMMENT"] = "Per-row LSF: Gaussian sigma (pixels), Gauss-Hermite h3, h4"
    hdus.append(lsf_hdu)
    if rv_table is None:
        rv_table = np.zeros(max(nv, 1), dtype=[("VISIT", ">i2"), ("SNR", ">f4"), ("VHELIO", ">f4")])
        rv_table["VISIT"] = np.arange(1, nv + 1)
        rv_table["SNR"] = [star.header.get(f"SNRVIS{i + 1}", np.nan) for i in range(nv)]
        rv_table["VHELIO"] = star.header.get("VHELIO", np.nan)
    hdus.append(fits.BinTableHDU(np.asarray(rv_table), name=APSTAR_HDU_NAMES[9]))
    if dr17:  # HDU 10: the RV fit of the combined spectrum, one row
        comb = np.zeros(1, dtype=[("VHELIO", ">f4"), ("VSCATTER", ">f4"), ("N_COMPONENTS", ">i2")])
        comb["VHELIO"] = star.header.get("VHELIO", apogee.MISSING)
        comb["VSCATTER"] = star.header.get("VSCATTER", apogee.MISSING)
        comb["N_COMPONENTS"] = star.header.get("N_COMP", 1)
        hdus.append(fits.BinTableHDU(comb))
    _atomic_writeto(fits.HDUList(hdus), path)


def read_apstar(path: os.PathLike, sha1: str | None = None, apogee_id: str | None = None) -> ApStar:
    """Read the flux, error and bitmask of an apStar file (rows as in the file).

    ``sha1`` (from the folder's sha1sum file) is checked first when given. Raises
    :class:`SpectrumError` (missing_file, bad_checksum, corrupt_fits, bad_layout).
    """
    path = str(path)
    hdul = _open_checked(path, sha1, verify_hdus=4)
    with hdul:
        header = _header_dict(hdul[0].header)
        flux = np.atleast_2d(_image(hdul, 1, path, "flux")).astype(np.float32)
        err = np.atleast_2d(_image(hdul, 2, path, "error")).astype(np.float32)
        mask = np.atleast_2d(_image(hdul, 3, path, "bitmask"))
    if flux.shape[1] != apogee.N_PIX:
        raise SpectrumError("bad_layout", f"{path}: {flux.shape[1]} pixels per row, expected "
                            f"{apogee.N_PIX} (apStar grid)", path)
    if err.shape != flux.shape or mask.shape != flux.shape:
        raise SpectrumError("bad_layout", f"{path}: flux {flux.shape}, error {err.shape} and "
                            f"bitmask {mask.shape} differ in shape", path)
    nv = header.get("NVISITS")
    if nv is None:
        raise SpectrumError("bad_layout", f"{path}: primary header has no NVISITS", path)
    from astronn_paper.survey import release as release_

    try:  # DR14: 1 row for one visit, DR17: 2; N + 2 rows for N >= 2 visits
        release_.apstar_rows(nv, flux.shape[0])
    except (release_.RowRuleError, ValueError, TypeError) as exc:
        raise SpectrumError("bad_layout", f"{path}: {exc}", path) from None
    aid = apogee_id or str(header.get("OBJID", os.path.basename(path)))
    return ApStar(apogee_id=aid, flux=flux, err=err, bitmask=mask.astype(np.int16), header=header,
                  path=path)


# ----------------------------------------------------------------------------- aspcapStar
def write_aspcapstar(path: os.PathLike, star: AspcapStar, best_fit: np.ndarray | None = None,
                     aspcap_row: np.ndarray | None = None) -> None:
    """Write an aspcapStar file: HDU 1 flux, 2 error, 3 best fit (8575 each), 4 ASPCAP table."""
    from astropy.io import fits

    flux = np.asarray(star.flux, np.float32)
    if flux.shape != (apogee.N_PIX,):
        raise ValueError(f"write_aspcapstar: flux must be ({apogee.N_PIX},), got {flux.shape}")
    primary = fits.PrimaryHDU()
    for k, v in star.header.items():
        primary.header[k] = v
    fit = np.zeros(apogee.N_PIX, np.float32) if best_fit is None else np.asarray(best_fit, np.float32)
    hdus = [primary]
    for k, a in enumerate((flux, np.asarray(star.err, np.float32), fit), start=1):
        hdus.append(fits.ImageHDU(a, header=_wcs_header(ASPCAPSTAR_HDU_NAMES[k])))
    if aspcap_row is None:
        aspcap_row = np.zeros(1, dtype=[("APOGEE_ID", "S18")])
        aspcap_row["APOGEE_ID"] = star.apogee_id
    hdus.append(fits.BinTableHDU(np.atleast_1d(np.asarray(aspcap_row)), name=ASPCAPSTAR_HDU_NAMES[4]))
    _atomic_writeto(fits.HDUList(hdus), path)


def read_aspcapstar(path: os.PathLike, sha1: str | None = None, apogee_id: str | None = None) -> AspcapStar:
    """Read the normalised flux and error (8575 pixels) of an aspcapStar file."""
    path = str(path)
    hdul = _open_checked(path, sha1)
    with hdul:
        header = _header_dict(hdul[0].header)
        flux = np.asarray(_image(hdul, 1, path, "flux"), np.float32)
        err = np.asarray(_image(hdul, 2, path, "error"), np.float32)
    if flux.shape != (apogee.N_PIX,) or err.shape != (apogee.N_PIX,):
        raise SpectrumError("bad_layout", f"{path}: flux {flux.shape} / error {err.shape}, expected "
                            f"({apogee.N_PIX},) each", path)
    aid = apogee_id or str(header.get("OBJID", os.path.basename(path)))
    return AspcapStar(apogee_id=aid, flux=flux, err=err, header=header, path=path)
