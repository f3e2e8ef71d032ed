"""Compile / load of the HDF5 datasets: selection, labels, skips, resume, caching."""
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_same_datasets
from fakesurvey import FakeSource

from astronn_paper import apogee, config, dataset
from astronn_paper.survey import normalise

HERE = Path(__file__).resolve().parent
#: no cut but STARFLAG / ASPCAPFLAG / apo1m, so that every fake star is a candidate
LOOSE = dataset.Selection(name="all", teff_min=0, teff_max=1e5, snr_min=0, vscatter_max=10)
BAD = {3: "missing_file", 4: "bad_checksum", 6: "corrupt_fits", 8: "all_masked",
       9: "nonfinite", 10: "bad_error", 12: "failed_normalisation",
       14: "bad_visit"}  # 14 has 3 visits


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def direct_filter(a, s):
    teff, feh = a["PARAM"][:, 0], a["X_H"][:, 17]
    return np.flatnonzero((teff >= s.teff_min) & (teff <= s.teff_max) & (a["SNR"] > s.snr_min)
                          & (a["SNR"] < s.snr_max) & (a["STARFLAG"] == 0)
                          & (a["ASPCAPFLAG"] == 0) & (a["VSCATTER"] < s.vscatter_max)
                          & (feh > s.feh_min) & (a["LOCATION_ID"] > 1))


@pytest.fixture(scope="module")
def bad_compile(tmp_path_factory):
    src = FakeSource(n=24, bad=BAD)
    out = tmp_path_factory.mktemp("ds") / "bad.h5"
    rep = dataset.compile_dataset(src, LOOSE, out, workers=1, progress=False, chunk_size=5)
    return src, out, rep


def test_selection_equals_direct_filter():
    a = FakeSource(n=300, seed=3).allstar()
    for s in [dataset.Selection(), dataset.Selection(snr_min=100, snr_max=200),
              dataset.Selection(feh_min=-0.1, teff_min=4500)]:
        np.testing.assert_array_equal(dataset.select(a, s), direct_filter(a, s))
    # max_stars: a seeded, sorted subset of the passing rows
    s = dataclasses.replace(LOOSE, max_stars=50, seed=11)
    idx = dataset.select(a, s)
    assert idx.size == 50 and np.all(np.diff(idx) > 0)
    assert set(idx) <= set(direct_filter(a, LOOSE))
    np.testing.assert_array_equal(idx, dataset.select(a, s))
    assert not np.array_equal(idx, dataset.select(a, dataclasses.replace(s, seed=12)))


def test_standard_selections_follow_the_paper_and_profile():
    sets = dataset.standard_selections("ci")
    tr, te = sets["train"], sets["test"]
    assert (tr.teff_min, tr.teff_max, tr.snr_min, tr.snr_max) == (4000, 5500, 200, np.inf)
    assert (te.snr_min, te.snr_max) == (100, 200)
    assert tr.max_stars == config.get_profile("ci").n_train and te.max_stars == 400
    assert tr.vscatter_max == 1 and tr.starflag_zero and tr.aspcapflag_zero and tr.visits
    assert dataset.Selection.from_json(tr.to_json()) == tr
    with pytest.raises(ValueError, match="visits=False"):
        dataset.Selection(normalisation="aspcap")


def test_every_bad_case_is_skipped_with_its_reason(bad_compile):
    src, out, rep = bad_compile
    sel = dataset.select(src.allstar(), LOOSE)
    stars = {v: src.allstar()["APOGEE_ID"][k].decode() for k, v in BAD.items() if k in sel}
    assert rep.selected == sel.size
    got = {s["reason"]: s for s in rep.skipped}
    for kind in ("missing_file", "bad_checksum", "corrupt_fits", "all_masked", "nonfinite",
                 "bad_error", "failed_normalisation"):
        if kind in stars:
            assert got[kind]["APOGEE_ID"] == stars[kind]
    assert "failed_normalisation" in stars             # the failed normalisation is counted
    assert f"failed_normalisation      1  {stars['failed_normalisation']}" in rep.text(run=False)
    assert "SDSS_LOCAL_SAS_MIRROR" in got["missing_file"]["message"]
    assert "missing_file" in str(rep) and stars["missing_file"] in str(rep)
    # the bad visit costs one visit, not the star
    assert [(s["APOGEE_ID"], s["visit"], s["reason"]) for s in rep.visits_skipped] == \
        [(stars["bad_visit"], 0, "nonfinite")]
    assert rep.written == rep.selected - len(rep.skipped)
    # nothing else lost: every good star is in the file, normalised exactly as alone
    _, _, _, _, c = dataset.load(out, columns=["allstar_index", "APOGEE_ID"])
    bad_rows = {s["allstar_index"] for s in rep.skipped}
    np.testing.assert_array_equal(c["allstar_index"], [i for i in sel if i not in bad_rows])
    x, _, x_err, _ = dataset.load(out, rows=[2])
    i = int(c["allstar_index"][2])
    ref, ref_err = normalise.continuum(*src.apstar(i).combined())
    np.testing.assert_array_equal(x, ref)
    np.testing.assert_array_equal(x_err, ref_err)
    nv = src.allstar()["NVISITS"][c["allstar_index"]]
    _, _, _, _, v = dataset.load(out, kind="visits", columns=["star_index", "visit"])
    assert len(v["visit"]) == nv[nv > 1].sum() - 1  # single-visit stars have no visit rows
    assert set(v["star_index"]) == set(np.flatnonzero(nv > 1))
    with h5py.File(out) as f:
        assert f.attrs["fingerprint"] and "report" in f.attrs
        assert not any(n.endswith(".partial") for n in os.listdir(out.parent))


def test_labels_in_target_order_with_missing_kept(bad_compile):
    src, out, _ = bad_compile
    a = src.allstar()
    x, y, x_err, y_err, c = dataset.load(out, columns=["allstar_index", "truth"])
    rows = c["allstar_index"]
    assert x.shape == x_err.shape == (rows.size, 7514) and y.shape == (rows.size, 22)
    np.testing.assert_array_equal(y[:, 0], a["PARAM"][rows, 0])
    np.testing.assert_array_equal(y[:, 1], a["PARAM"][rows, 1])
    np.testing.assert_array_equal(y[:, apogee.TARGETS.index("Fe")], a["X_H"][rows, 17])
    np.testing.assert_array_equal(y[:, apogee.TARGETS.index("Ti2")], a["X_H"][rows, 13])
    np.testing.assert_array_equal(y_err[:, 0], a["TEFF_ERR"][rows])
    assert (y[:, 1] == -9999).sum() == (a["PARAM"][rows, 1] == -9999).sum() > 0
    assert (y[:, apogee.TARGETS.index("P")] == -9999).sum() > 0  # X_H[:, 8] = P
    np.testing.assert_array_equal(c["truth"], src.true_labels(rows))
    # targets by name, in the order asked; rows as a slice or an unsorted index
    _, y2, _, y2_err = dataset.load(out, targets=["Fe", "teff"], rows=slice(1, 4))
    np.testing.assert_array_equal(y2, y[1:4][:, [19, 0]])
    x3, y3, _, _ = dataset.load(out, rows=[3, 0, 3])
    np.testing.assert_array_equal(x3, x[[3, 0, 3]])
    with pytest.raises(KeyError, match="unknown targets"):
        dataset.load(out, targets=["Zn"])


def test_visits_point_at_their_star(bad_compile):
    src, out, _ = bad_compile
    _, yv, _, _, v = dataset.load(out, kind="visits",
                                  columns=["star_index", "visit", "allstar_index", "SNR"])
    comb = dataset.load_columns(out, ["allstar_index", "SNR"])
    _, yc, _, _ = dataset.load(out)
    np.testing.assert_array_equal(comb["allstar_index"][v["star_index"]], v["allstar_index"])
    np.testing.assert_array_equal(yc[v["star_index"]], yv)
    # visit spectra are the apStar visit rows, normalised
    k = int(np.flatnonzero(v["visit"] == 1)[0])
    xv, _, _, _ = dataset.load(out, kind="visits", rows=[k])
    f, e, m = src.apstar(int(v["allstar_index"][k])).visits()
    np.testing.assert_array_equal(xv[0], normalise.continuum(f[1], e[1], m[1])[0][0])


def test_parallel_equals_serial_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1546300800")
    src = FakeSource(n=40, bad={3: "missing_file"})
    a = dataset.compile_dataset(src, LOOSE, tmp_path / "a.h5", workers=1, progress=False,
                                chunk_size=4)
    b = dataset.compile_dataset(src, LOOSE, tmp_path / "b.h5", workers=2, progress=False,
                                chunk_size=4)
    assert sha(tmp_path / "a.h5") == sha(tmp_path / "b.h5")
    assert a.summary() == b.summary()


_KILLABLE = """
import sys
sys.path.insert(0, {here!r})
from fakesurvey import FakeSource
from astronn_paper import dataset
sel = dataset.Selection.from_json({sel!r})
dataset.compile_dataset(FakeSource(n=40, delay=0.04), sel, {out!r}, workers=1,
                        progress=False, chunk_size=2)
"""


@pytest.mark.subprocess
def test_interrupted_compile_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1546300800")
    out = tmp_path / "resumed.h5"
    work = Path(str(out) + ".partial")
    code = _KILLABLE.format(here=str(HERE), sel=LOOSE.to_json(), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.time() + 60
        while len(list(work.glob("chunk_*.npz"))) < 3 and time.time() < deadline:
            time.sleep(0.05)
            assert proc.poll() is None, "compile finished before it could be interrupted"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = len(list(work.glob("chunk_*.npz")))
    assert done >= 3 and not out.exists()
    rep = dataset.compile_dataset(FakeSource(n=40, delay=0.04), LOOSE, out, workers=1,
                                  progress=False, chunk_size=2)
    assert rep.resumed_chunks >= done and not work.exists()
    ref = dataset.compile_dataset(FakeSource(n=40, delay=0.04), LOOSE, tmp_path / "straight.h5",
                                  workers=2, progress=False, chunk_size=2)
    assert sha(out) == sha(tmp_path / "straight.h5")
    assert ref.resumed_chunks == 0
    # a stale partial compile of other inputs is discarded, not reused
    other = dataclasses.replace(LOOSE, snr_min=150)
    work.mkdir()
    (work / "plan.json").write_text('{"input_fingerprint": "other"}')
    (work / "chunk_000000.npz").write_bytes(b"junk")
    rep = dataset.compile_dataset(FakeSource(n=40), other, out, workers=1, progress=False,
                                  chunk_size=2)
    assert rep.resumed_chunks == 0 and rep.selected < 32


def test_build_standard_sets_is_a_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    prof = config.get_profile("ci").replace(name="ci", n_train=6, n_test=5)
    monkeypatch.setitem(config.PROFILES, "ci", prof)
    src = FakeSource(n=300, seed=5)
    reports = {}
    paths = dataset.build_standard_sets("ci", source=src, progress=False, workers=1,
                                        reports=reports)
    assert set(paths) == {"train", "test"} and paths["train"].name == "train.h5"
    assert paths["train"].parent == tmp_path / "ci" / "datasets"
    assert reports["train"].written == 6 and reports["test"].written == 5
    snr = dataset.load_columns(paths["test"], ["SNR"])["SNR"]
    assert np.all((snr > 100) & (snr < 200))
    meta = dataset.info(paths["train"])
    assert meta["provenance"]["profile"] == "ci" and meta["selection"]["snr_min"] == 200
    assert meta["n"] == {"combined": 6, "visits": int(meta["n"]["visits"])}
    mtime = paths["train"].stat().st_mtime_ns
    again = {}
    dataset.build_standard_sets("ci", source=src, progress=False, reports=again)
    assert paths["train"].stat().st_mtime_ns == mtime and again["train"].cached
    assert again["train"].written == 6
    # another source (fingerprint) -> rebuilt
    dataset.build_standard_sets("ci", source=FakeSource(n=300, seed=6), progress=False,
                                workers=1, names=("train",))
    assert paths["train"].stat().st_mtime_ns != mtime


def test_aspcap_normalised_set(tmp_path):
    src = FakeSource(n=20)
    sel = dataclasses.replace(LOOSE, normalisation="aspcap", visits=False)
    rep = dataset.compile_dataset(src, sel, tmp_path / "a.h5", workers=1, progress=False)
    x, y, _, _, c = dataset.load(tmp_path / "a.h5", columns=["allstar_index"])
    assert x.shape == (rep.written, 7514)
    np.testing.assert_array_equal(x[0], normalise.aspcap(src.aspcapstar(int(c["allstar_index"][0])).flux,
                                                         src.aspcapstar(0).err)[0][0])
    with pytest.raises(KeyError, match="visits"):
        dataset.load(tmp_path / "a.h5", kind="visits")


def test_figures(bad_compile, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from astronn_paper.figures import datasets as figs
    from astronn_paper.figures import save

    src, out, _ = bad_compile
    snr = dataset.store.snr_by_group({"train": out, "test": out})
    assert set(snr) == {(n, k) for n in ("train", "test") for k in ("combined", "visits")}
    assert np.array_equal(snr[("train", "visits")], dataset.load_columns(out, ["SNR"], "visits")["SNR"])
    f1 = figs.snr_distributions(snr)
    assert len(f1.axes[0].patches) == 4
    del snr[("test", "visits")]
    assert len(figs.snr_distributions(snr).axes[0].patches) == 3
    f2 = figs.teff_logg(dataset.store.labels(out, ("teff", "logg", "Fe")))
    n_missing = int((dataset.load(out, targets=["logg"])[1] == -9999).sum())
    assert f"{n_missing:,} without logg" in f2.axes[0].get_title()
    f3 = figs.normalisation_comparison(src, 0)
    assert len(f3.axes) == 6
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert save(f3, "test_norm", "ci") is None     # nothing for a notebook cell to display
    paths = [config.figs_dir("ci") / f"test_norm.{ext}" for ext in ("pdf", "png")]
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.slow
def test_exported_mirror_compiles_to_the_same_arrays(tmp_path):
    """The synthetic survey exported to FITS and read back through MirrorSource gives the
    same dataset arrays (spectra, labels, truth, ids) as the in-memory survey."""
    from astronn_paper.survey.mirror import MirrorSource
    from astronn_paper.synth.source import SyntheticSource
    from astronn_paper.synth.export import export_mirror

    mem = SyntheticSource(seed=config.get_profile("ci").survey_seed)
    sel = dataclasses.replace(dataset.standard_selections("ci")["train"], max_stars=8)
    rows = dataset.select(mem.allstar(), sel)
    export_mirror(tmp_path / "sas", mem, rows, aspcap=False, progress=False)
    mirror = MirrorSource(tmp_path / "sas")
    np.testing.assert_array_equal(dataset.select(mirror.allstar(), sel), rows)
    a = dataset.compile_dataset(mirror, sel, tmp_path / "mirror.h5", workers=2, progress=False)
    b = dataset.compile_dataset(mem, sel, tmp_path / "memory.h5", workers=1, progress=False)
    assert a.summary() == b.summary() and a.written == 8 and a.visits_written > 8
    assert_same_datasets(tmp_path / "mirror.h5", tmp_path / "memory.h5")


@pytest.mark.slow
def test_selection_on_the_synthetic_survey_matches_its_paper_cuts():
    from astronn_paper.synth.source import SyntheticSource
    from astronn_paper.synth.catalog import paper_cuts

    a = SyntheticSource(seed=config.get_profile("ci").survey_seed).allstar()
    cuts = paper_cuts(a)
    for name, sel in dataset.standard_selections("paper").items():
        np.testing.assert_array_equal(dataset.select(a, sel), direct_filter(a, sel))
        loose = dataclasses.replace(sel, exclude_apo1m=False)
        np.testing.assert_array_equal(dataset.select(a, loose), np.flatnonzero(cuts[name]))


def test_compile_command(tmp_path, monkeypatch, capsys):
    from astronn_paper import cli

    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(dataset.build, "open_source", lambda spec, prof: FakeSource(n=300, seed=5))
    out = tmp_path / "mine.h5"
    assert cli.main(["compile", "--profile", "ci", "--set", "test", "--max-stars", "4",
                     "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "selected  : 4 stars" in text and "100 < SNR < 200" in text
    assert dataset.info(out)["n"]["combined"] == 4
    cli.main(["compile", "--profile", "ci", "--set", "test", "--max-stars", "4",
              "--out", str(out), "--no-progress"])
    assert "up to date" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["compile", "--set", "all", "--out", str(out)])
