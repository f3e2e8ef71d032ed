"""DR14 and DR17 beside each other: SAS layouts, apStar row rules, DR17 header keywords and
.sha1sum files, the same synthetic stars exported both ways compiling to identical datasets,
and astroNN's own dr=17 path functions finding every exported file offline."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from astropy.io import fits

from conftest import assert_same_datasets

from astronn_paper import apogee, cache, config, dataset
from astronn_paper.dataset import store
from astronn_paper.dataset.sources import open_source
from astronn_paper.survey import formats, release
from astronn_paper.survey.mirror import MirrorSource
from astronn_paper.survey.source import ApStar, SpectrumError
from astronn_paper.synth.source import SyntheticSource
from astronn_paper.synth.export import export_mirror

PROFILE = "ci"


# --------------------------------------------------------------------------- row rules
@pytest.mark.parametrize("nvisits,nrows,name,combined,visits", [
    (1, 1, "dr14-single", 0, (0,)),            # DR14: one visit, one row
    (1, 2, "dr17-single", 0, (0,)),            # DR17: one visit, two rows, row 0 combined
    (1, 3, "single-n+2", 0, (2,)),             # N + 2 rule applied to one visit
    (2, 4, "multi", 1, (2, 3)),                # N >= 2: global-weighted row 1, visits 2..
    (3, 5, "multi", 1, (2, 3, 4)),
    (12, 14, "multi", 1, tuple(range(2, 14))),
])
def test_row_rules(nvisits, nrows, name, combined, visits):
    rule = release.apstar_rows(nvisits, nrows)
    assert (rule.name, rule.combined, rule.visits) == (name, combined, visits)


@pytest.mark.parametrize("nvisits,nrows", [(1, 4), (2, 2), (3, 3), (3, 6), (0, 1), (2, 1)])
def test_rows_that_fit_no_rule_are_refused_naming_the_rules(nvisits, nrows):
    with pytest.raises(release.RowRuleError) as e:
        release.apstar_rows(nvisits, nrows)
    msg = str(e.value)
    assert f"NVISITS={nvisits}" in msg and "\n" not in msg
    if nvisits >= 1:
        assert "dr17-single" in msg and "N+2 rows" in msg


def test_dr14_rule_unchanged_and_rows_written_per_release():
    # the DR14 behaviour the paper's compile relies on (apogee's helpers delegate here)
    assert [apogee.combined_row(n) for n in (1, 2, 3, 7)] == [0, 1, 1, 1]
    assert apogee.visit_rows(1) == [0] and apogee.visit_rows(3) == [2, 3, 4]
    assert apogee.combined_row(1, 2) == 0 and apogee.visit_rows(1, 2) == [0]
    assert [release.apstar_nrows(n, "dr14") for n in (1, 2, 5)] == [1, 4, 7]
    assert [release.apstar_nrows(n, "dr17") for n in (1, 2, 5)] == [2, 4, 7]
    one = np.arange(3 * apogee.N_PIX, dtype=np.float32).reshape(3, -1)[:1]
    two = release.to_release_rows(one, 1, "dr17")
    assert two.shape == (2, apogee.N_PIX) and np.array_equal(two[0], one[0])
    five = np.zeros((5, apogee.N_PIX))
    assert release.to_release_rows(five, 3, "dr17") is five
    with pytest.raises(release.RowRuleError):
        release.to_release_rows(five, 1, "dr17")


def test_release_names_and_errors():
    assert [release.check(r) for r in ("dr14", "DR17", 17, "14", None)] == \
        ["dr14", "dr17", "dr17", "dr14", "dr14"]
    with pytest.raises(ValueError, match="unknown APOGEE release 'dr16': use one of dr14, dr17"):
        release.check("dr16")
    with pytest.raises(ValueError, match="unknown APOGEE release"):
        MirrorSource("/tmp", release="dr15")


def test_layout_paths():
    dr14, dr17 = release.layout("dr14"), release.layout("dr17")
    assert dr14.allstar_relpath == "dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/allStar-l31c.2.fits"
    assert dr17.allstar_relpath == \
        "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits"
    args = ("apo25m", 4102, "000+02")
    assert dr14.apstar_relpath("2M1", *args) == \
        "dr14/apogee/spectro/redux/r8/stars/apo25m/4102/apStar-r8-2M1.fits"
    assert dr14.apstar_relpath("2M1", "apo1m", 1, "calibration").endswith("apo1m/calibration/apStar-r8-2M1.fits")
    assert dr17.apstar_relpath("2M1", *args) == \
        "dr17/apogee/spectro/redux/dr17/stars/apo25m/000+02/apStar-dr17-2M1.fits"
    assert dr17.apstar_relpath("2M1", "lco25m", None, "K04_083+13").endswith(
        "stars/lco25m/K04_083+13/asStar-dr17-2M1.fits")
    assert dr17.aspcapstar_relpath("2M1", *args) == \
        "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/apo25m/000+02/aspcapStar-dr17-2M1.fits"
    assert dr17.apstar_sha1sum_name(*args) == "dr17_stars_apo25m_000+02.sha1sum"
    assert dr17.aspcapstar_sha1sum_name(*args) == "dr17_synspec_apo25m_000+02.sha1sum"
    assert dr17.aspcapstar_sha1sum_name("lco25m", None, "X") == "dr17_synspec_rev1_lco25m_X.sha1sum"
    # DR17 keys stars by TELESCOPE + FIELD: the LOCATION_ID plays no part
    assert dr17.apstar_relpath("2M1", "apo25m", 1, "000+02") == dr17.apstar_relpath("2M1", *args)


# --------------------------------------------------------------------------- exported mirrors
def _without_duplicates(a, sel, dup):
    """``sel`` with the first seed whose subset holds no DR17 non-primary duplicate (the
    subsets are the same in both releases; DR17 skips such a row when reading it)."""
    for seed in range(sel.seed, sel.seed + 50):
        s = dataclasses.replace(sel, seed=seed)
        if not dup[dataset.select(a, s)].any():
            return s
    raise AssertionError("no duplicate-free subset")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A few ci training and high-SNR test stars (1 and several visits), an apo1m star and a
    star observed in two fields (both rows pass the training cuts), exported in both layouts
    into one mirror root."""
    mem = SyntheticSource(seed=config.get_profile(PROFILE).survey_seed)
    a = mem.allstar()
    dup = release.dr17_duplicate_flags(a["APOGEE_ID"], a["SNR"])
    std = dataset.standard_selections(PROFILE)
    sels = {"train": _without_duplicates(a, dataclasses.replace(std["train"], max_stars=5), dup),
            "test": _without_duplicates(a, dataclasses.replace(std["test"], max_stars=3), dup)}
    rows = {k: dataset.select(a, s) for k, s in sels.items()}
    extra = [np.flatnonzero((a["TELESCOPE"] == b"apo1m") & (a["NVISITS"] == 1))[0]]
    if not np.any(a["NVISITS"][np.concatenate(list(rows.values()))] == 1):
        extra.append(np.flatnonzero((a["NVISITS"] == 1) & (a["TELESCOPE"] == b"apo25m") & ~dup)[0])
    passing = dataset.selection_mask(a, dataclasses.replace(std["train"], max_stars=None))
    secondary = np.flatnonzero(dup & passing)
    ids = a["APOGEE_ID"]
    pair = next(np.flatnonzero(ids == ids[i]) for i in secondary
                if np.all(passing[np.flatnonzero(ids == ids[i])]))
    exported_rows = np.unique(np.concatenate([*rows.values(), extra, pair]))
    root = tmp_path_factory.mktemp("sas")
    for rel in ("dr14", "dr17"):
        export_mirror(root, mem, exported_rows, progress=False, release=rel)
    return {"root": root, "mem": mem, "sels": sels, "rows": rows, "exported": exported_rows,
            "pair": pair, "secondary": int(pair[dup[pair]][0]), "primary": int(pair[~dup[pair]][0]),
            # one source per release, shared: each reads its allStar once
            "m14": MirrorSource(root), "m17": MirrorSource(root, release="dr17")}


#: allStar columns of the chain that end up in a dataset (besides the labels).
_KEYS = ("APOGEE_ID", "TELESCOPE", "FIELD", "LOCATION_ID", "RA", "DEC", "SNR", "NVISITS")


def test_both_layouts_read_back_the_same_stars(exported):
    """The DR17 allStar, read through its chain view, gives the chain the same stars: the same
    rows pass the paper's cuts, with the same keys and labels; the spectra are the same."""
    mem, m14, m17 = exported["mem"], exported["m14"], exported["m17"]
    assert m17.allstar_path.name == "allStar-dr17-synspec_rev1.fits"
    a14, a17 = m14.allstar(), m17.allstar()
    assert len(a14) == len(a17) == apogee.N_ALLSTAR_DR14
    for sel in dataset.standard_selections(PROFILE).values():
        full = dataclasses.replace(sel, max_stars=None)
        np.testing.assert_array_equal(dataset.selection_mask(a14, full), dataset.selection_mask(a17, full))
    rows = exported["exported"]
    for name in _KEYS:
        np.testing.assert_array_equal(np.char.strip(a14[name][rows].astype(str)) if a14[name].dtype.kind == "S"
                                      else a14[name][rows],
                                      np.char.strip(a17[name][rows].astype(str)) if a17[name].dtype.kind == "S"
                                      else a17[name][rows], err_msg=name)
    for x, y in zip(dataset.labels_from_allstar(a14, rows), dataset.labels_from_allstar(a17, rows)):
        np.testing.assert_array_equal(x, y)
    nv = a14["NVISITS"]
    seen = set()
    for i in rows:
        i = int(i)
        s14, s17 = m14.apstar(i), m17.apstar(i)
        n = int(nv[i])
        assert s14.flux.shape[0] == (1 if n == 1 else n + 2)
        assert s17.flux.shape[0] == (2 if n == 1 else n + 2)
        seen.add(min(n, 2))
        for a, b in zip(s14.combined(), s17.combined()):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(s14.visits(), s17.visits()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(s17.visit_snr(), mem.visit_snr(i))
        np.testing.assert_array_equal(m14.aspcapstar(i).flux, m17.aspcapstar(i).flux)
        assert "/dr17/" in str(m17.apstar_path(i)) and str(m17.apstar_path(i)).endswith(
            f"/{a17['FIELD'][i].decode().strip()}/apStar-dr17-{s17.apogee_id}.fits")
    assert seen == {1, 2}          # single- and multi-visit stars are both covered


def test_dr17_allstar_is_written_in_the_dr17_format(exported):
    """The exported DR17 allStar has DR17's HDUs, columns, types and order, its element list and
    order (HDU 3 ELEM_SYMBOL: Ce where DR17 has it, Yb and 13C), named [X/Fe] columns with
    _ERR and _FLAG, NaN for missing values, int64 flags and EXTRATARG with the duplicate bit."""
    path = exported["root"] / release.DR17.allstar_relpath
    a14 = exported["mem"].allstar()
    with fits.open(path) as hdul:
        assert len(hdul) == 5 and hdul[0].header["VERSION"] == 1.0
        assert hdul[2].data.shape == (360,) and hdul[2].data.dtype.kind == "i"
        t, key, fields = hdul[1].data, hdul[3].data, hdul[4].data
        assert tuple(t.columns.names) == tuple(c[0] for c in release.DR17_EXPORT_COLUMNS)
        fmt = {c.name: c.format for c in t.columns}
        keys = (fmt["APOGEE_ID"], fmt["TELESCOPE"], fmt["FIELD"], fmt["LOCATION_ID"])
        assert keys == ("30A", "6A", "20A", "J")
        assert (fmt["STARFLAG"], fmt["ASPCAPFLAG"], fmt["EXTRATARG"], fmt["X_H"]) == ("K", "K", "J", "27E")
        assert tuple(key.columns.names) == ("WAVE", "PARAM_SYMBOL", "ELEM_SYMBOL", "ELEMTOH",
                                            "ELEM_VALUE", "GRIDS")
        elem = [e.strip() for e in key["ELEM_SYMBOL"][0]]
        assert elem == list(release.DR17_ELEM_SYMBOL) and len(elem) == 27
        assert elem.index("Ce") == 23 and apogee.ASPCAP_ELEMENTS.index("Ce") == 22   # reordered
        assert set(fields["FIELD"]) >= {f.strip() for f in t["FIELD"][exported["exported"]]}
        for name in ("C_FE", "CI_FE", "TIII_FE", "FE_H", "CE_FE", "YB_FE"):
            assert {name, f"{name}_ERR", f"{name}_FLAG"} <= set(t.columns.names)
        assert "Y_FE" not in t.columns.names and "GE_FE" not in t.columns.names
        rows = exported["exported"]
        x = t["X_H"][rows]
        ife, iti2 = elem.index("Fe"), elem.index("TiII")
        both = np.isfinite(x[:, iti2]) & np.isfinite(x[:, ife])
        np.testing.assert_allclose(t["TIII_FE"][rows][both], (x[:, iti2] - x[:, ife])[both], atol=1e-6)
        np.testing.assert_array_equal(t["FE_H"][rows], x[:, ife])
        assert np.all(np.isnan(x[:, elem.index("Yb")])) and not np.any(x == apogee.MISSING)
        mg14 = a14["X_H"][rows, apogee.ASPCAP_ELEMENTS.index("Mg")]
        np.testing.assert_array_equal(x[:, elem.index("Mg")], np.where(mg14 == apogee.MISSING, np.nan, mg14))
        ext = t["EXTRATARG"]
        assert ext[exported["secondary"]] & 16 and not ext[exported["primary"]] & 16
        assert t["SNR"][exported["secondary"]] <= t["SNR"][exported["primary"]]
        assert np.all(ext[t["TELESCOPE"] == "apo1m"] & 8)
        np.testing.assert_array_equal(t["STARFLAG"], a14["STARFLAG"])    # same bit numbers here


def test_dr17_files_have_the_dr17_hdus_and_header_keywords(exported):
    m17 = exported["m17"]
    nv = m17.allstar()["NVISITS"]
    for i in exported["exported"]:
        with fits.open(m17.apstar_path(int(i))) as hdul:
            h = hdul[0].header
            n = int(nv[i])
            assert len(hdul) == 11 and hdul[8].data is None            # HDUs 0-10, 8 empty
            assert hdul[1].data.shape == (release.apstar_nrows(n, "dr17"), apogee.N_PIX)
            assert len(hdul[9].data) == n and len(hdul[10].data) == 1
            assert hdul[1].header["CRVAL1"] == apogee.CRVAL1 and "BUNIT" in hdul[1].header
            assert "TELESCOP" not in h and "LOCID" not in h             # keyed by the folder
            for key in ("FIELD", "OBJID", "NVISITS", "SNR", "SNREV", "RA", "DEC", "GLON", "GLAT",
                        "J", "H", "K", "AKTARG", "APTARG1", "AP2TARG4", "STARFLAG", "ANDFLAG",
                        "N_COMP", "VHELIO", "VSCATTER", "VERR", "VERR_MED", "MEANFIB", "NRES"):
                assert key in h, key
            for k in range(1, n + 1):
                for key in ("SFILE", "JD", "SNRVIS", "VHELIO"):
                    assert f"{key}{k}" in h
            assert h["FIELD"] == m17.allstar()["FIELD"][i].decode().strip() and h["NVISITS"] == n
        with fits.open(m17.aspcapstar_path(int(i))) as hdul:
            assert hdul[1].data.shape == (apogee.N_PIX,)
            assert hdul[4].columns["ASPCAPFLAG"].format == "K"       # the DR17 allStar row


def test_dr17_sha1sum_files(exported):
    root = exported["root"]
    sums = sorted((root / "dr17").rglob("*.sha1sum"))
    names = {s.name for s in sums}
    assert any(n.startswith("dr17_stars_apo25m_") for n in names)
    assert any(n.startswith("dr17_stars_apo1m_") for n in names)
    assert any(n.startswith("dr17_synspec_apo25m_") for n in names)
    for s in sums:
        listed = formats.read_sha1sum(s)
        assert set(listed) == {p.name for p in s.parent.glob("*.fits")} and len(listed) >= 2
        for name, h in listed.items():
            assert cache.file_sha1(s.parent / name) == h


def test_spec_round_trip_keeps_the_release(exported):
    m = MirrorSource(exported["root"], release="dr17", columns=("APOGEE_ID", "NVISITS"))
    assert m.spec()["release"] == "dr17" and m.allstar().dtype.names == ("APOGEE_ID", "NVISITS")
    again = open_source(m.spec())
    assert again.release == "dr17" and again.allstar_path == m.allstar_path
    assert open_source({"kind": "mirror", "root": str(exported["root"])}).release == "dr14"


def test_dr14_and_dr17_exports_compile_to_identical_datasets(exported, tmp_path):
    """The same stars exported as DR14 and as DR17 compile to identical training and test
    sets: same rows, labels, spectra (and visits), same content fingerprint."""
    for name, sel in exported["sels"].items():
        reports = {}
        for rel in ("dr14", "dr17"):
            src = exported[f"m{rel[2:]}"]
            np.testing.assert_array_equal(dataset.select(src.allstar(), sel), exported["rows"][name])
            reports[rel] = dataset.compile_dataset(src, sel, tmp_path / f"{name}{rel}.h5", workers=1,
                                                   progress=False)
        assert reports["dr14"].summary() == reports["dr17"].summary()
        assert reports["dr14"].written == len(exported["rows"][name]) and reports["dr14"].skipped == []
        assert reports["dr14"].visits_written > 0
        assert_same_datasets(tmp_path / f"{name}dr14.h5", tmp_path / f"{name}dr17.h5")
        assert store.fingerprint(tmp_path / f"{name}dr14.h5") == store.fingerprint(tmp_path / f"{name}dr17.h5")
        assert '"release": "dr17"' in json.dumps(store.info(tmp_path / f"{name}dr17.h5")["provenance"])


def test_dr17_reads_skip_what_dr17_sets_aside(exported):
    """A star observed in two fields: both rows pass the paper's cuts in both releases (same
    seeded subsets), DR14 reads both, DR17 reads the highest-SNR one and skips the other as
    a duplicate (EXTRATARG bit 4), naming the row it keeps."""
    pair, sec, prim = exported["pair"], exported["secondary"], exported["primary"]
    m14, m17 = exported["m14"], exported["m17"]
    r14, r17 = m14.read_normalised(pair), m17.read_normalised(pair)
    assert sorted(r14.rows) == sorted(pair) and r14.skipped == []
    assert list(r17.rows) == [prim]
    (skip,) = r17.skipped
    assert skip["allstar_index"] == sec and skip["reason"] == "duplicate"
    assert f"primary row is {prim}" in skip["message"] and "EXTRATARG bit 4" in skip["message"]
    np.testing.assert_array_equal(r17.spec[0], r14.spec[list(r14.rows).index(prim)])
    assert set(m17.set_aside()) == set(np.flatnonzero(
        release.dr17_duplicate_flags(m17.allstar()["APOGEE_ID"], m17.allstar()["SNR"])))
    assert m14.set_aside() == {} and m17.apstar(sec).nvisits >= 1    # a single read still reads it


def test_astronn_dr17_functions_find_every_file_offline(exported, monkeypatch, no_network):
    """astroNN downloads a file it finds missing or whose checksum differs from the folder's
    .sha1sum: with sockets refused, every call returning our path proves it found the file
    and accepted its checksum."""
    root = exported["root"]
    monkeypatch.setenv("SDSS_LOCAL_SAS_MIRROR", str(root))
    from astroNN.apogee import allstar, combined_spectra, visit_spectra

    assert MirrorSource(release="dr17").root == root      # the root astroNN uses too
    m = exported["m17"]
    # flag=0: astroNN's built-in hash is the real DR17 file's, so it must not be checked
    assert allstar(dr=17, flag=0) == str(m.allstar_path)
    a = m.allstar()
    for i in exported["exported"]:
        r = a[int(i)]
        kw = {"dr": 17, "field": r["FIELD"].decode().strip(), "apogee": r["APOGEE_ID"].decode().strip(),
              "telescope": r["TELESCOPE"].decode().strip(), "verbose": 0}
        assert visit_spectra(**kw) == str(m.apstar_path(int(i)))
        assert combined_spectra(**kw) == str(m.aspcapstar_path(int(i)))


# --------------------------------------------------------------------------- the paper's snippet
def _readme_snippet() -> str:
    text = (config.repo_root() / "README.rst").read_text()
    start = text.index("astroNN's own functions on a mirror")
    return text[start:text.index("\n\n", text.index("predict(spec)", start))]


def paper_snippet(dr, star):
    """The README's snippet ("astroNN's own functions on a mirror") up to the network, for one
    star: astroNN's ``visit_spectra`` with ``location=`` (DR14) or ``field=`` and ``telescope=``
    (DR17), the paper's continuum normalisation with astroNN's ``apogee_continuum``."""
    from astroNN.apogee import apogee_continuum, visit_spectra

    if dr == 14:
        path = visit_spectra(dr=14, location=star["location"], apogee=star["apogee"], verbose=0)
    else:
        path = visit_spectra(dr=17, field=star["field"], telescope=star["telescope"],
                             apogee=star["apogee"], verbose=0)
    with fits.open(path) as f:
        row = 0 if f[0].header["NVISITS"] == 1 else 1     # the paper's combined spectrum
        flux, err, bitmask = (np.atleast_2d(f[k].data)[row] for k in (1, 2, 3))
    spec, spec_err = apogee_continuum(flux, err, bitmask=bitmask.astype(int), dr=14)
    return path, spec


def test_paper_snippet_works_offline_on_both_releases(exported, monkeypatch):
    """On an export, astroNN's ``visit_spectra`` without ``location=`` (DR14) first checks the
    allStar against the real DR14 file's checksum, then tries to download it: with sockets
    blocked, a URLError (the exported allStar is left as it was). With ``location=`` (DR14) or
    ``field=`` + ``telescope=`` (DR17) it needs no allStar, and the README's snippet runs
    offline, normalising the spectrum as the chain does, then the shipped network through
    ``load_folder`` and ``.predict()`` (3 MC passes here instead of 100)."""
    import socket
    import urllib.error
    import warnings

    from astroNN.models import load_folder

    def blocked(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    root = exported["root"]
    monkeypatch.setenv("SDSS_LOCAL_SAS_MIRROR", str(root))
    from astroNN.apogee import visit_spectra

    a = exported["m14"].allstar()
    i = next(int(i) for i in exported["rows"]["train"] if a["NVISITS"][i] > 1)
    r = a[i]
    star = {"apogee": r["APOGEE_ID"].decode().strip(), "location": int(r["LOCATION_ID"]),
            "field": r["FIELD"].decode().strip(), "telescope": r["TELESCOPE"].decode().strip()}
    allstar14 = root / release.DR14.allstar_relpath
    before = cache.file_sha1(allstar14)
    with warnings.catch_warnings(), pytest.raises(urllib.error.URLError):
        warnings.simplefilter("ignore")
        visit_spectra(dr=14, apogee=star["apogee"], verbose=0)
    assert cache.file_sha1(allstar14) == before

    chain = exported["m14"].read_normalised([i])
    specs = []
    for dr in (14, 17):
        path, spec = paper_snippet(dr, star)
        assert path == str(exported[f"m{dr}"].apstar_path(i))
        np.testing.assert_allclose(spec[0], chain.spec[0], rtol=1e-5, atol=1e-6)
        specs.append(spec)
    np.testing.assert_array_equal(specs[0], specs[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = load_folder(str(config.repo_root() / "astroNN_0617_run001"))
        net.mc_num = 3
        pred, pred_err = net.predict(np.concatenate(specs))
    assert pred.shape == (2, len(apogee.TARGETS)) and np.all(np.isfinite(pred))
    assert np.all(pred_err["total"] > 0) and list(net.targetname) == list(apogee.TARGETS)
    snippet = _readme_snippet()
    for line in ("visit_spectra(dr=14, location=", "visit_spectra(dr=17, field=", "telescope=",
                 "row = 0 if f[0].header[\"NVISITS\"] == 1 else 1",
                 "apogee_continuum(flux, err, bitmask=bitmask.astype(int), dr=14)",
                 'load_folder("astroNN_0617_run001")', "net.predict(spec)"):
        assert line in snippet, line


# --------------------------------------------------------------------------- bad files
def test_read_apstar_refuses_rows_that_fit_no_rule(tmp_path):
    flux = np.ones((4, apogee.N_PIX), np.float32)
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(flux), fits.ImageHDU(flux),
            fits.ImageHDU(np.zeros(flux.shape, np.int16))]
    hdus[0].header["NVISITS"] = 1
    fits.HDUList(hdus).writeto(tmp_path / "apStar-dr17-2MX.fits")
    with pytest.raises(SpectrumError, match="4 rows with NVISITS=1 fit no apStar row rule") as e:
        formats.read_apstar(tmp_path / "apStar-dr17-2MX.fits")
    assert e.value.reason == "bad_layout"


def test_write_apstar_checks_the_release_row_rule(tmp_path):
    one = ApStar("2M1", np.ones((1, apogee.N_PIX)), np.ones((1, apogee.N_PIX)),
                 np.zeros((1, apogee.N_PIX), np.int16), header={"NVISITS": 1})
    formats.write_apstar(tmp_path / "a.fits", one)                       # DR14: one row
    with pytest.raises(ValueError, match="dr17 writes 2"):
        formats.write_apstar(tmp_path / "b.fits", one, release="dr17")


# --------------------------------------------------------------------------- command line
def _export_dr17_training_stars(main, tmp_path, n: int):
    """``synth --mirror --release dr17`` of the ``n`` ci training-cut stars ``compile
    --max-stars n`` selects (through the command line, as a user runs it); returns the mirror
    root and those allStar rows that DR17 marks as non-primary duplicates (the compile skips
    them, reason ``duplicate``)."""
    a = SyntheticSource(seed=config.get_profile(PROFILE).survey_seed).allstar()
    sel = dataclasses.replace(dataset.standard_selections(PROFILE)["train"], max_stars=n)
    rows = dataset.select(a, sel)
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in rows))
    root = tmp_path / "sas"
    assert main(["synth", "--profile", PROFILE, "--mirror", str(root), "--ids", str(ids),
                 "--release", "dr17", "--no-aspcap", "--quiet"]) == 0
    dup = release.dr17_duplicate_flags(a["APOGEE_ID"], a["SNR"])
    return root, [int(i) for i in rows[dup[rows]]]


def test_release_flags_of_synth_and_compile(tmp_path, capsys):
    """``synth --release dr17`` exports the stars ``compile --release dr17`` then compiles,
    with nothing skipped; a bad release is one usage line and exit status 2."""
    from astronn_paper.cli import main

    for argv in (["synth", "--release", "dr16"], ["compile", "--release", "DR 17"],
                 ["catalog", "--release", "dr18"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "argument --release: unknown APOGEE release" in err and "Traceback" not in err
    root, duplicates = _export_dr17_training_stars(main, tmp_path, 3)
    out = capsys.readouterr().out
    assert "as DR17" in out and "--release dr17" in out
    assert (root / release.DR17.allstar_relpath).is_file()
    assert not (root / "dr14").exists()
    h5 = tmp_path / "train17.h5"
    assert main(["compile", "--profile", PROFILE, "--mirror", str(root), "--release", "dr17",
                 "--set", "train", "--max-stars", "3", "--out", str(h5), "--workers", "1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    info = dataset.info(h5)
    skipped = info["report"]["skipped"]
    assert info["report"]["written"] == 3 - len(duplicates) >= 1
    assert [(s["allstar_index"], s["reason"]) for s in skipped] == [(i, "duplicate") for i in duplicates]
    assert '"release": "dr17"' in json.dumps(info["provenance"])
    assert main(["compile", "--profile", PROFILE, "--source", "synthetic", "--release", "dr17",
                 "--set", "train", "--out", str(tmp_path / "x.h5")]) == 2
    assert "--release dr17 needs a mirror source" in capsys.readouterr().err


@pytest.mark.slow
def test_dr17_mirror_compiles_trains_and_predicts(tmp_path, capsys):
    """The whole chain through ``--release dr17``, as a user with a DR17 mirror runs it:
    ``synth --mirror --release dr17`` -> ``compile --release dr17`` -> ``train`` -> ``predict`` on
    the mirror's own apStar files (2 rows for one visit, N + 2 for more), which names the DR17
    export it was trained on and warns that it is synthetic."""
    import pandas as pd

    from astronn_paper.cli import main

    n = 80              # 80 less DR17's duplicates, >= 72 after the validation split: one batch of 64
    root, duplicates = _export_dr17_training_stars(main, tmp_path, n)
    h5 = tmp_path / "train17.h5"
    assert main(["compile", "--profile", PROFILE, "--mirror", str(root), "--release", "dr17",
                 "--set", "train", "--max-stars", str(n), "--out", str(h5), "--workers", "1",
                 "--no-progress"]) == 0
    report = dataset.info(h5)["report"]
    assert report["written"] == n - len(duplicates) >= 80 * 0.9
    assert {s["reason"] for s in report["skipped"]} <= {"duplicate"}
    few = tmp_path / "few.h5"                # too few for one batch: one line, exit 2
    store.write_subset(h5, few, np.arange(20))
    capsys.readouterr()
    assert main(["train", "--profile", PROFILE, "--dataset", str(few), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "fewer than one batch of 64" in err and "Traceback" not in err
    folder = tmp_path / "model17"
    assert main(["train", "--profile", PROFILE, "--network", "censored", "--dataset", str(h5),
                 "--out", str(folder)]) == 0
    capsys.readouterr()
    stars = root / "dr17/apogee/spectro/redux/dr17/stars"
    files = {}
    for f in sorted(stars.glob("*/*/apStar-dr17-*.fits")):
        n = fits.getheader(f, 0)["NVISITS"]
        files.setdefault("one" if n == 1 else "several", f)
    assert set(files) == {"one", "several"}, "the 60 stars should include 1- and N-visit stars"
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(folder), "--mc", "5", "--out", str(out),
                 *map(str, files.values())]) == 0
    printed = capsys.readouterr().err          # provenance on stderr, the table in the file
    assert "dr17" in printed.lower() and "an export of the synthetic survey" in printed
    assert "warning: this model was trained on the synthetic survey" in printed
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert any("trained_survey" in line and "dr17" in line.lower() for line in header), header
    table = pd.read_csv(out, comment="#")
    assert len(table) == 2 and np.isfinite(table[list(apogee.TARGETS)].to_numpy()).all()
    assert (table[[f"{t}_err" for t in apogee.TARGETS]].to_numpy() > 0).all()
