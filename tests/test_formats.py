"""DR14 file formats: export of the synthetic survey, read back through the mirror source and
astroNN's path functions (offline), HDU layout, checksums, determinism and bad files."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from astropy.io import fits

from astronn_paper import apogee, cache
from astronn_paper.survey import formats
from astronn_paper.survey.mirror import MirrorSource
from astronn_paper.survey.source import ApStar, MirrorFileMissing, SpectrumError
from astronn_paper.synth.source import SyntheticSource
from astronn_paper.synth import catalog as C
from astronn_paper.synth.export import export_mirror

SEED = 2019


@pytest.fixture(scope="module")
def source():
    return SyntheticSource(seed=SEED)


@pytest.fixture(scope="module")
def rows(source):
    """A few rows covering the layouts: one visit, several visits, apo1m, a cluster member,
    and two stars sharing a field folder."""
    a, t = source.allstar(), source.truth()
    train = np.flatnonzero(C.paper_cuts(a)["train"])
    one = train[a["NVISITS"][train] == 1][0]
    many = train[a["NVISITS"][train] == 3][:1]
    loc = a["LOCATION_ID"][many[0]]
    same_field = np.flatnonzero((a["LOCATION_ID"] == loc) & (a["TEFF"] > 0))[:2]
    one_m = np.flatnonzero((a["TELESCOPE"] == b"apo1m") & (a["TEFF"] > 4000) & (a["TEFF"] < 5500))[:1]
    member = np.flatnonzero(t["cluster"] == b"M67")[:1]
    return np.unique(np.concatenate([[one], many, same_field, one_m, member]))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, source, rows):
    root = tmp_path_factory.mktemp("sas")
    summary = export_mirror(root, source, rows, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def disk(mirror):
    """The exported mirror, read back (one allStar read for the whole module)."""
    return MirrorSource(mirror[0])


def test_round_trip_equals_in_memory(mirror, disk, source, rows):
    root, summary = mirror
    assert summary["n_written"] == len(rows)
    m = disk
    a_mem, a_disk = source.allstar(), m.allstar()
    assert len(a_disk) == len(a_mem) and a_disk.dtype.names == a_mem.dtype.names
    for name in a_mem.dtype.names:
        assert np.array_equal(a_disk[name], a_mem[name]), name
    for i in rows:
        s_mem, s_disk = source.apstar(int(i)), m.apstar(int(i))
        for k in ("flux", "err", "bitmask"):
            assert np.array_equal(getattr(s_mem, k), getattr(s_disk, k)), (i, k)
        assert s_disk.nvisits == s_mem.nvisits == a_mem["NVISITS"][i]
        assert np.allclose(s_disk.visit_snr(), s_mem.visit_snr())
        for k in ("NVISITS", "SNR", "RA", "DEC", "VHELIO", "STARFLAG"):
            assert s_disk.header[k] == pytest.approx(s_mem.header[k])
        c_mem, c_disk = source.aspcapstar(int(i)), m.aspcapstar(int(i))
        assert np.array_equal(c_mem.flux, c_disk.flux) and np.array_equal(c_mem.err, c_disk.err)
    truth = m.truth()
    assert m.is_synthetic and np.array_equal(truth["Fe"], source.truth()["Fe"])
    tab_disk, tab_mem = m.cluster_members(), source.cluster_members()
    assert list(tab_disk["2MASS"]) == list(tab_mem["2MASS"])
    assert m.spec() == {"kind": "mirror", "root": str(root), "release": "dr14"}
    assert len(m.fingerprint()) == 16


def test_astronn_finds_the_files_offline(mirror, disk, rows, monkeypatch, no_network):
    root, _ = mirror
    monkeypatch.setenv("SDSS_LOCAL_SAS_MIRROR", str(root))
    from astroNN.apogee import allstar, combined_spectra, visit_spectra

    assert MirrorSource().root == root  # root from the environment, as astroNN
    m = disk
    a = m.allstar()
    # flag=0: astroNN's built-in hash is the real DR14 file's, so it must not be checked
    assert allstar(dr=14, flag=0) == str(m.allstar_path)
    for i in rows:
        r = a[i]
        if r["TELESCOPE"] != b"apo25m":
            continue  # astroNN's DR14 functions know only apo25m folders
        aid, loc = r["APOGEE_ID"].decode(), int(r["LOCATION_ID"])
        assert visit_spectra(dr=14, location=loc, apogee=aid, verbose=0) == str(m.apstar_path(i))
        assert combined_spectra(dr=14, location=loc, apogee=aid, verbose=0) == str(m.aspcapstar_path(i))


def test_apstar_hdu_layout_and_headers(disk, rows):
    m = disk
    a = m.allstar()
    seen_single = seen_multi = False
    for i in rows:
        path = m.apstar_path(i)
        assert re.match(r"apStar-r8-2M\d{8}[+-]\d{7}\.fits$", path.name)
        nv = int(a["NVISITS"][i])
        with fits.open(path) as h:
            assert len(h) == 10
            hd = h[0].header
            for key in ("NVISITS", "SNR", "RA", "DEC", "VHELIO", "STARFLAG", "OBJID"):
                assert key in hd, key
            assert all(f"SNRVIS{k + 1}" in hd for k in range(nv))
            assert hd["OBJID"] == a["APOGEE_ID"][i].decode()
            shape = (apogee.N_PIX,) if nv == 1 else (nv + 2, apogee.N_PIX)
            for k in range(1, 8):
                assert h[k].data.shape == shape, (k, h[k].data.shape)
                assert h[k].header["CRVAL1"] == apogee.CRVAL1 and h[k].header["CDELT1"] == apogee.CDELT1
            assert h[1].data.dtype == np.dtype(">f4") and h[3].data.dtype == np.dtype(">i2")
            assert isinstance(h[9], fits.BinTableHDU) and len(h[9].data) == nv
        seen_single |= nv == 1
        seen_multi |= nv > 1
        asp = m.aspcapstar_path(i)
        with fits.open(asp) as h:
            assert len(h) == 5
            for k in (1, 2, 3):
                assert h[k].data.shape == (apogee.N_PIX,)
            assert h[4].data["APOGEE_ID"][0] == a["APOGEE_ID"][i].decode()
    assert seen_single and seen_multi


def test_sha1sum_files(mirror):
    root, _ = mirror
    sums = list(root.rglob("*.sha1sum"))
    assert sums
    for s in sums:
        lines = s.read_text().splitlines()
        assert len(lines) >= 2  # the field summary plus the stars
        listed = formats.read_sha1sum(s)
        for line in lines:
            assert re.match(r"^[0-9a-f]{40}  \S+$", line)
        files = {p.name for p in s.parent.glob("*.fits")}
        assert set(listed) == files
        for name, h in listed.items():
            assert cache.file_sha1(s.parent / name) == h


def test_export_resumes_and_refuses_other_seed(mirror, source, rows):
    root, _ = mirror
    again = export_mirror(root, source, rows[:2], progress=False)
    assert again["n_written"] == 0
    with pytest.raises(ValueError, match="seed"):
        export_mirror(root, SyntheticSource(seed=SEED + 1), rows[:1], progress=False)


def test_same_seed_same_bytes_other_seed_other_stars(tmp_path, source, rows):
    i = int(rows[0])
    p1, p2, p3 = tmp_path / "a.fits", tmp_path / "b.fits", tmp_path / "c.fits"
    formats.write_apstar(p1, source.apstar(i))
    formats.write_apstar(p2, SyntheticSource(seed=SEED, cache_spectra=0).apstar(i))
    assert p1.read_bytes() == p2.read_bytes()
    other = SyntheticSource(seed=SEED + 5)
    assert np.mean(other.truth()["teff"] != source.truth()["teff"]) > 0.9
    j = int(np.flatnonzero(other.allstar()["NVISITS"] == source.allstar()["NVISITS"][i])[0])
    formats.write_apstar(p3, other.apstar(j))
    assert cache.file_sha1(p3) != cache.file_sha1(p1)


# --------------------------------------------------------------------------- bad files
def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


def test_missing_file_error_names_path_and_env(tmp_path):
    path = tmp_path / "apStar-r8-2M00000000+0000000.fits"
    with pytest.raises(MirrorFileMissing) as e:
        formats.read_apstar(path)
    assert e.value.reason == "missing_file" and str(path) in str(e.value)
    assert "SDSS_LOCAL_SAS_MIRROR" in str(e.value)
    with pytest.raises(MirrorFileMissing):
        formats.read_allstar(tmp_path / "allStar-l31c.2.fits")


def test_mirror_without_root(monkeypatch):
    monkeypatch.delenv("SDSS_LOCAL_SAS_MIRROR", raising=False)
    with pytest.raises(RuntimeError, match="SDSS_LOCAL_SAS_MIRROR"):
        MirrorSource()


def test_bad_checksum(disk, rows, tmp_path):
    m = disk
    good = m.apstar_path(int(rows[0]))
    bad = _copy(good, tmp_path / good.name)
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF  # flip a data byte: still a valid FITS file, wrong content
    bad.write_bytes(bytes(data))
    sha1 = formats.read_sha1sum(next(good.parent.glob("*.sha1sum")))[good.name]
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(bad, sha1=sha1)
    assert e.value.reason == "bad_checksum" and str(bad) in str(e.value)
    # and through the mirror source: corrupt the exported file itself, then restore it
    original = good.read_bytes()
    try:
        good.write_bytes(bytes(data))
        with pytest.raises(SpectrumError) as e:
            m.apstar(int(rows[0]))
        assert e.value.reason == "bad_checksum"
    finally:
        good.write_bytes(original)


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_corrupt_fits(disk, rows, tmp_path):
    good = disk.apstar_path(int(rows[0]))
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(good.read_bytes()[: 2880 * 3 + 100])
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(truncated)
    assert e.value.reason in ("corrupt_fits", "bad_layout") and "truncated.fits" in str(e.value)
    # cut inside the last HDU (the RV table), which the reader never reads: still corrupt
    tail_cut = tmp_path / "tail_cut.fits"
    tail_cut.write_bytes(good.read_bytes()[:-2880])
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(tail_cut)
    assert e.value.reason == "corrupt_fits" and "tail_cut.fits" in str(e.value)
    garbage = tmp_path / "garbage.fits"
    garbage.write_text("this is not a FITS file\n" * 200)
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(garbage)
    assert e.value.reason == "corrupt_fits"


def test_bad_layout(tmp_path):
    star = ApStar("2M00000000+0000000", np.ones((1, 4000), np.float32), np.ones((1, 4000), np.float32),
                  np.zeros((1, 4000), np.int16), header={"NVISITS": 1})
    hdus = [fits.PrimaryHDU(header=fits.Header([("NVISITS", 1)]))] + [
        fits.ImageHDU(x[0]) for x in (star.flux, star.err, star.bitmask)]
    p = tmp_path / "short.fits"
    fits.HDUList(hdus).writeto(p)
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(p)
    assert e.value.reason == "bad_layout" and "8575" in str(e.value)
    # NVISITS that does not match the number of rows
    flux = np.ones((5, apogee.N_PIX), np.float32)
    hdus = [fits.PrimaryHDU(header=fits.Header([("NVISITS", 2)]))] + [
        fits.ImageHDU(flux), fits.ImageHDU(flux), fits.ImageHDU(flux.astype(np.int16))]
    p2 = tmp_path / "rows.fits"
    fits.HDUList(hdus).writeto(p2)
    with pytest.raises(SpectrumError) as e:
        formats.read_apstar(p2)
    assert e.value.reason == "bad_layout" and "NVISITS" in str(e.value)
    # a missing HDU
    p3 = tmp_path / "two.fits"
    fits.HDUList(hdus[:3]).writeto(p3)
    with pytest.raises(SpectrumError, match="HDU 3") as e:
        formats.read_apstar(p3)
    assert e.value.reason == "bad_layout"


def test_sha1sum_helpers(tmp_path):
    (tmp_path / "a.fits").write_bytes(b"abc")
    (tmp_path / "b.fits").write_bytes(b"")
    formats.update_sha1sum(tmp_path, "x.sha1sum", ["b.fits", "a.fits"])
    lines = (tmp_path / "x.sha1sum").read_text().splitlines()
    assert lines == ["a9993e364706816aba3e25717850c26c9cd0d89d  a.fits",
                     "da39a3ee5e6b4b0d3255bfef95601890afd80709  b.fits"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_lite_apstar_keeps_the_hdu_numbering(tmp_path, source, rows):
    star = source.apstar(int(rows[0]))
    full, lite = tmp_path / "full.fits", tmp_path / "lite.fits"
    formats.write_apstar(full, star)
    formats.write_apstar(lite, star, lite=True)
    assert lite.stat().st_size < 0.6 * full.stat().st_size
    with fits.open(lite) as h:
        assert len(h) == 10 and h[4].data is None and h[9].data is not None
    a, b = formats.read_apstar(full), formats.read_apstar(lite)
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.bitmask, b.bitmask)


def test_allstar_column_subset_and_open_source(mirror, disk):
    root, _ = mirror
    from astronn_paper.dataset.sources import open_source

    m = MirrorSource(root, columns=("APOGEE_ID", "SNR", "PARAM"))
    a = m.allstar()
    assert a.dtype.names == ("APOGEE_ID", "SNR", "PARAM")
    assert np.array_equal(a["SNR"], disk.allstar()["SNR"])
    again = open_source(m.spec())
    assert isinstance(again, MirrorSource) and again.columns == m.columns and again.root == root
    with pytest.raises(SpectrumError, match="NOPE"):
        formats.read_allstar(m.allstar_path, columns=("NOPE",))


def test_header_dict_keeps_the_star_keywords_only(tmp_path):
    """Header.copy(strip=True) plus commentary: what the former hand-written key set left out."""
    former = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT",
              "GCOUNT", "COMMENT", "HISTORY", "", "BSCALE", "BZERO"}
    primary = fits.PrimaryHDU(np.zeros((2, 3), np.int16))
    primary.header["BSCALE"], primary.header["BZERO"] = 1.0, 0.0
    for k, v in {"NVISITS": 3, "OBJID": "2M00000002+7417074", "SNR": 123.4, "RA": 0.5}.items():
        primary.header[k] = v
    primary.header.add_comment("a comment")
    primary.header.add_history("a history line")
    primary.header.add_blank("")
    path = tmp_path / "p.fits"
    fits.HDUList([primary, fits.ImageHDU(np.ones(4, np.float32))]).writeto(path)
    with fits.open(path) as hdul:
        got = formats._header_dict(hdul[0].header)
        assert got == {k: hdul[0].header[k] for k in hdul[0].header if k not in former}
    assert list(got) == ["NVISITS", "OBJID", "SNR", "RA"]
