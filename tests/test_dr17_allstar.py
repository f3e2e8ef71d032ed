"""The DR17 allStar as DR17 writes it: its facts (element list and order, named columns, flag
bits, EXTRATARG), the chain view that reads the paper's labels from it by name, and the
one-line refusal of an allStar whose columns fit neither release's data model. Small
hand-made tables: no synthetic survey is built here (tests/test_release.py exports one)."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from astronn_paper import apogee, config, dataset
from astronn_paper.survey import formats, release
from astronn_paper.survey.mirror import MirrorSource
from astronn_paper.survey.source import SpectrumError
from astronn_paper.synth.catalog import ALLSTAR_DTYPE, ASPCAPFLAG_BITS, STARFLAG_BITS, XFE_COLUMNS
from astronn_paper.synth.export import DR17_FORMAT, _same_generator, dr17_allstar

MISSING = apogee.MISSING


def small_dr14(n: int = 8, seed: int = 1) -> np.ndarray:
    """``n`` giants passing the paper's training cuts, in the synthetic survey's DR14 columns."""
    rng = np.random.default_rng(seed)
    a = np.zeros(n, ALLSTAR_DTYPE)
    a["APOGEE_ID"] = [f"2M{i:08d}+0000000" for i in range(n)]
    a["TELESCOPE"], a["FIELD"], a["LOCATION_ID"] = b"apo25m", b"000+02", 4102
    a["RA"], a["DEC"] = rng.uniform(0, 360, n), rng.uniform(-30, 60, n)
    a["NVISITS"], a["SNR"], a["VSCATTER"] = 3, rng.uniform(210, 400, n), 0.1
    teff, logg = rng.uniform(4200, 5200, n), rng.uniform(1.5, 3.2, n)
    a["TEFF"], a["TEFF_ERR"], a["LOGG"], a["LOGG_ERR"] = teff, 60.0, logg, 0.05
    a["VMICRO"], a["VMACRO"], a["VSINI"] = 1.5, MISSING, MISSING
    a["M_H"], a["M_H_ERR"], a["ALPHA_M"], a["ALPHA_M_ERR"] = -0.1, 0.02, 0.05, 0.02
    xh = rng.normal(-0.1, 0.2, (n, len(apogee.ASPCAP_ELEMENTS))).astype(np.float32)
    xh[:, 20:] = MISSING                            # Cu .. Nd: not released in DR14
    a["X_H"], a["X_H_ERR"] = xh, np.where(xh == MISSING, MISSING, 0.03)
    fe = xh[:, apogee.ASPCAP_ELEMENTS.index("Fe")]
    for j, name in enumerate(XFE_COLUMNS):
        a[name] = xh[:, j] if name == "FE_H" else np.where(xh[:, j] == MISSING, MISSING, xh[:, j] - fe)
    a["FE_H_ERR"] = 0.03
    a["PARAM"] = np.stack([teff, logg, np.full(n, 1.5), np.full(n, -0.1), a["C_FE"], a["N_FE"],
                           np.full(n, 0.05), np.full(n, MISSING), np.full(n, MISSING)], axis=1)
    a["FPARAM"] = a["PARAM"]
    return a


def write_dr17(root, table, key, fields, header=None):
    path = root / release.DR17.allstar_relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    formats.write_allstar_dr17(path, table, key, fields, header)
    return path


# --------------------------------------------------------------------------- the facts
def test_dr17_facts():
    # element list and order of ELEM_SYMBOL [PL]: Ce moved, Y gone, Yb and 13C added
    dr14_first20 = tuple(e.replace("TI", "Ti") for e in apogee.ASPCAP_ELEMENTS[:20])
    assert release.DR17_ELEM_SYMBOL[:20] == dr14_first20
    assert release.DR17_ELEM_SYMBOL[20:] == ("Cu", "Ge", "Rb", "Ce", "Nd", "Yb", "C13")
    assert apogee.ASPCAP_ELEMENTS[20:] == ("Cu", "Ge", "Ce", "Rb", "Y", "Nd")
    # the paper's 20 labels by DR17 name
    names = [release.named_column(apogee.TARGET_TO_ASPCAP[t]) for t in apogee.ABUNDANCES]
    assert names[:4] == ["C_FE", "CI_FE", "N_FE", "O_FE"]
    assert names[apogee.ABUNDANCES.index("Ti2")] == "TIII_FE"
    assert names[apogee.ABUNDANCES.index("Fe")] == "FE_H"
    assert {n for n in names} <= {release.named_column(e) for e in release.DR17_NAMED_ELEMENTS}
    # bits [BM, TB]
    star, asp = release.DR17_STARFLAG_BITS, release.DR17_ASPCAPFLAG_BITS
    assert star["RV_FAIL"] == 22 and star["MTPFLUX_LT_50"] == 25
    assert asp["STAR_BAD"] == 23 and asp["SPEC_HOLE_WARN"] == 12
    assert asp["NO_ASPCAP_RESULT"] == 31 and asp["PROBLEM_TARGET"] == 40
    assert release.DR17_EXTRATARG_BITS["DUPLICATE"] == 4 and release.DUPLICATE_BIT == 16
    # every DR14 bit the synthetic survey sets has a DR17 bit of the same name (and number)
    for dr14, dr17 in ((STARFLAG_BITS, star), (ASPCAPFLAG_BITS, asp)):
        assert all(dr17[name] == bit for name, bit in dr14.items())
    key = release.dr17_key_row()
    assert key["WAVE"].shape == (1, apogee.N_PIX_GAP_DELETED) and key["ELEM_VALUE"][0][4] == b"[Na/H]"


def test_bits_are_translated_by_name():
    dr14 = np.array([0, 1 << 31, (1 << 23) | (1 << 11)], np.int32)    # NO_ASPCAP_RESULT is the sign bit
    out = release.translate_bits(dr14, ASPCAPFLAG_BITS, release.DR17_ASPCAPFLAG_BITS, "ASPCAPFLAG")
    assert out.dtype == np.int64 and list(out) == [0, 1 << 31, (1 << 23) | (1 << 11)]
    with pytest.raises(ValueError, match="ASPCAPFLAG bit 15 is set but not defined"):
        release.translate_bits(np.array([1 << 15]), ASPCAPFLAG_BITS, release.DR17_ASPCAPFLAG_BITS,
                               "ASPCAPFLAG")
    with pytest.raises(ValueError, match="bit X"):
        release.translate_bits(np.array([1]), {"X": 0}, {"Y": 0}, "T")


def test_duplicate_rule_keeps_the_highest_snr_row():
    ids = np.array([b"2MA", b"2MB", b"2MA", b"2MC", b"2MA", b"2MC"])
    snr = np.array([100.0, 50.0, 300.0, 80.0, 200.0, 80.0])
    assert list(release.dr17_duplicate_flags(ids, snr)) == [True, False, False, True, True, False]


# --------------------------------------------------------------------------- the chain view
def test_the_export_writes_the_dr17_format():
    a = small_dr14()
    a["ASPCAPFLAG"][1] = 1 << ASPCAPFLAG_BITS["STAR_BAD"]
    a["X_H"][2, apogee.ASPCAP_ELEMENTS.index("O")] = MISSING
    t, key, fields = dr17_allstar(a)
    assert [c[0] for c in release.DR17_EXPORT_COLUMNS] == list(t.dtype.names)
    assert t["FILE"][0] == b"apStar-dr17-2M00000000+0000000.fits" and list(fields["FIELD"]) == [b"000+02"]
    elem = list(release.DR17_ELEM_SYMBOL)
    for e in ("Mg", "TiII", "Ce"):
        np.testing.assert_array_equal(
            t["X_H"][:, elem.index(e)],
            np.where(a["X_H"][:, apogee.ASPCAP_ELEMENTS.index(e)] == MISSING, np.nan,
                     a["X_H"][:, apogee.ASPCAP_ELEMENTS.index(e)]))
    assert np.isnan(t["X_H"][2, elem.index("O")]) and np.isnan(t["O_FE"][2])
    assert np.isnan(t["TEFF"][1]) and np.isnan(t["MG_FE"][1])          # BAD: named columns empty
    assert t["PARAM"][1, 0] == a["PARAM"][1, 0]                          # ... PARAM keeps the value
    np.testing.assert_allclose(t["PARAM"][:, 2], np.log10(1.5))          # LOGVMICRO
    assert t["ASPCAPFLAG"].dtype == np.int64 and t["ASPCAPFLAG"][1] == 1 << 23


def test_chain_view_takes_the_labels_by_name_with_the_files_element_order(tmp_path):
    a = small_dr14()
    t, key, fields = dr17_allstar(a)
    # a DR17 file whose ELEM_SYMBOL lists the elements in another order: the view follows it
    perm = np.random.default_rng(0).permutation(27)
    shuffled_key, shuffled = key.copy(), t.copy()
    shuffled_key["ELEM_SYMBOL"][0] = key["ELEM_SYMBOL"][0][perm]
    shuffled["X_H"], shuffled["X_H_ERR"] = t["X_H"][:, perm], t["X_H_ERR"][:, perm]
    # DR17 flags: Mg of row 0 at the grid edge (BAD), Si of row 3 near it (WARN: kept)
    shuffled["MG_FE_FLAG"][0] = 1 << release.DR17_PARAMFLAG_BAD["GRIDEDGE_BAD"]
    shuffled["SI_FE_FLAG"][3] = 1 << 8
    path = write_dr17(tmp_path, shuffled, shuffled_key, fields)
    view = MirrorSource(tmp_path, release="dr17").allstar()
    rows = np.arange(len(a))
    y14, e14 = dataset.labels_from_allstar(a, rows)
    y17, e17 = dataset.labels_from_allstar(view, rows)
    mg, si = apogee.TARGETS.index("Mg"), apogee.TARGETS.index("Si")
    assert y17[0, mg] == MISSING and e17[0, mg] == MISSING and y17[3, si] == y14[3, si]
    y17[0, mg], e17[0, mg] = y14[0, mg], e14[0, mg]
    np.testing.assert_array_equal(y17, y14)
    np.testing.assert_array_equal(e17, e14)
    np.testing.assert_array_equal(view["X_H"][:, apogee.ASPCAP_ELEMENTS.index("Y")], MISSING)
    assert view["STARFLAG"].dtype.itemsize == 8 and view["APOGEE_ID"].dtype.itemsize == 18
    # without HDU 3 the element order is unknown: [X/H] = [X/Fe] + [Fe/H] from the named columns
    with fits.open(path) as hdul:
        fits.HDUList([hdul[0], hdul[1]]).writeto(tmp_path / "no_hdu3.fits")
    y, _ = dataset.labels_from_allstar(formats.read_allstar_dr17(tmp_path / "no_hdu3.fits"), rows)
    np.testing.assert_allclose(y[1:], y14[1:], atol=2e-6)
    sel = dataset.standard_selections("ci")["train"]
    np.testing.assert_array_equal(dataset.select(view, sel), dataset.select(a, sel))


def test_what_dr17_does_not_give_is_minus_9999(tmp_path):
    a = small_dr14()
    t, key, fields = dr17_allstar(a)
    t["ASPCAPFLAG"][1] = 1 << release.DR17_ASPCAPFLAG_BITS["STAR_BAD"]   # flagged star
    t["P_FE"][2] = np.nan                                            # no P (as DR17 judged it)
    t["X_H"][4, list(release.DR17_ELEM_SYMBOL).index("Ni")] = np.nan
    view = release.chain_view_dr17(t, [e.decode() for e in key["ELEM_SYMBOL"][0]], None)
    x = view["X_H"]
    assert np.all(x[1] == MISSING) and view["PARAM"][1, 0] == view["TEFF"][1] == MISSING
    assert x[2, apogee.ASPCAP_ELEMENTS.index("P")] == MISSING
    assert x[4, apogee.ASPCAP_ELEMENTS.index("Ni")] == MISSING
    assert not np.isnan(x).any() and not np.isnan(view["PARAM"]).any()


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("change,column", [("drop", "TIII_FE"), ("rename", "FE_H"), ("drop", "EXTRATARG")])
def test_a_dr17_allstar_with_a_column_missing_or_renamed_is_refused(tmp_path, change, column):
    t, key, fields = dr17_allstar(small_dr14())
    names = [n for n in t.dtype.names if n != column]
    if change == "rename":
        t = t.copy()
        t.dtype.names = ["FEH" if n == column else n for n in t.dtype.names]
        names = list(t.dtype.names)
    write_dr17(tmp_path, t[names], key, fields)
    with pytest.raises(release.AllStarFormatError) as e:
        MirrorSource(tmp_path, release="dr17").allstar()
    msg = str(e.value)
    assert msg.endswith(f"no column {column}: not an allStar of the DR17 data model (read as dr17)")
    assert "\n" not in msg and str(tmp_path) in msg
    assert isinstance(e.value, SpectrumError) and e.value.reason == "bad_layout"
    assert isinstance(e.value, config.UserError) and isinstance(e.value, KeyError)
    assert e.value.column == column and e.value.release == "dr17"


def test_an_allstar_read_as_the_other_release_is_refused_naming_both(tmp_path):
    a = small_dr14()
    # the old export: a DR14 allStar under the DR17 name
    path17 = tmp_path / release.DR17.allstar_relpath
    path17.parent.mkdir(parents=True)
    formats.write_allstar(path17, a)
    with pytest.raises(release.AllStarFormatError, match=r"no column EXTRATARG: not an allStar of the "
                       r"DR17 data model \(read as dr17; it has the columns of a DR14 allStar: read it "
                       r"with --release dr14\)"):
        MirrorSource(tmp_path, release="dr17").allstar()
    # a DR17 allStar read as DR14
    path14 = tmp_path / release.DR14.allstar_relpath
    path14.parent.mkdir(parents=True)
    formats.write_allstar_dr17(path14, *dr17_allstar(a))
    with pytest.raises(release.AllStarFormatError, match=r"X_H holds 27 elements where the DR14 data "
                       r"model has 26: .*\(read as dr14; it has the columns of a DR17 allStar"):
        MirrorSource(tmp_path).allstar()
    # a DR14 allStar as it is still reads, unchanged
    formats.write_allstar(path14, a)
    np.testing.assert_array_equal(MirrorSource(tmp_path).allstar(), a)


def test_the_command_line_prints_the_refusal_in_one_line(tmp_path, capsys, data_home):
    from astronn_paper.cli import main

    t, key, fields = dr17_allstar(small_dr14())
    write_dr17(tmp_path / "sas", t[[n for n in t.dtype.names if n != "TIII_FE"]], key, fields)
    code = main(["compile", "--profile", "ci", "--mirror", str(tmp_path / "sas"), "--release", "dr17",
                 "--set", "train", "--out", str(tmp_path / "x.h5"), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and "no column TIII_FE" in line and "(read as dr17)" in line


# --------------------------------------------------------------------------- rows DR17 sets aside
def test_dr17_batch_reads_skip_duplicates_and_rows_without_spectra(tmp_path):
    a = small_dr14()
    a["APOGEE_ID"][5] = a["APOGEE_ID"][2]          # star 2 seen again in another field ...
    a["FIELD"][5], a["SNR"][5] = b"001+02", a["SNR"][2] - 10   # ... at lower SNR
    t, key, fields = dr17_allstar(a)
    t["NVISITS"][6] = 0                            # DR17 lists it without spectrum
    write_dr17(tmp_path, t, key, fields)
    m = MirrorSource(tmp_path, release="dr17")
    assert sorted(m.set_aside()) == [5, 6]
    out = m.apstars([2, 5, 6])
    assert [e.reason for e in out] == ["missing_file", "duplicate", "missing_file"]
    assert "is a DR17 non-primary duplicate (EXTRATARG bit 4 DUPLICATE): its primary row is 2" in str(out[1])
    assert "NVISITS = 0" in str(out[2]) and out[0].path.endswith(".fits")   # row 2: its file is absent here
    assert [e.reason for e in m.aspcapstars([5])] == ["duplicate"]
    sel = dataset.standard_selections("ci")["train"]
    assert 5 in dataset.select(m.allstar(), sel)   # the cuts keep it: the seeded subsets stay DR14's


def test_a_dr17_allstar_of_another_format_version_is_rewritten(tmp_path):
    header = {"SYNSEED": 7, "SYNFP": "abc"}
    formats.write_allstar(tmp_path / "a.fits", small_dr14(), header)
    assert _same_generator(tmp_path / "a.fits", header)
    assert not _same_generator(tmp_path / "a.fits", {**header, "SYNFMT": DR17_FORMAT})
