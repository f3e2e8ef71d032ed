"""Fault injection over the whole chain (issue 11): bad files, bad catalog rows, bad output
places, bad model folders, and no network.

Every test starts from the tiny exported synthetic mirror of :mod:`faults` (20 training-set
stars, a cut-down allStar, read through :class:`~astronn_paper.survey.mirror.MirrorSource` exactly as
a real DR14 mirror is) and compares with a clean compile of the same stars. The per-reader
unit tests live elsewhere and are not repeated here: readers on single bad files in
``test_formats.py`` (checksum, corrupt FITS, bad layout), the normalisation checks on arrays in
``test_normalise.py``, every skip reason through a fake in-memory source and the
SIGKILL-resumed compile in ``test_dataset.py``, catalog resumption with a fake network in
``test_catalog.py``, and model-folder validation of ``engine.load_model`` in
``test_infer.py``. What is new here: real damaged FITS files in a mirror on disk, all faults
in one compile, the good stars' bytes against a clean run, the allStar faults, the output
folder and disk faults, the model-folder refusals of the commands, and the network guard.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import faults  # noqa: E402
from faults import N_STARS, SELECTION, leftovers  # noqa: E402

from astronn_paper import apogee, cache, dataset
from astronn_paper.survey import formats, mirror
from astronn_paper.survey.mirror import MirrorSource
from astronn_paper.survey.source import SpectrumError

#: allStar rows (of the 20) damaged by each file fault; ``nan_one_visit`` gets a multi-visit star
FILE_PLAN = {name: k for k, name in enumerate(n for n in faults.FILE_FAULTS if n != "nan_one_visit")}


def _sha(path):
    return cache.file_sha1(path)


def _by_id(path, kind="combined"):
    """{APOGEE_ID: {column: array}} of a compiled file (visits: rows per star stacked)."""
    with h5py.File(path, "r") as f:
        g = f[kind]
        ids = np.char.decode(g["APOGEE_ID"][()])
        cols = {n: g[n][()] for n in ("spectra", "spectra_err", "labels", "labels_err")}
        extra = {n: g[n][()] for n in ("visit",) if n in g}
    out = {}
    for aid in np.unique(ids):
        sel = ids == aid
        out[aid] = {n: v[sel] for n, v in {**cols, **extra}.items()}
    return out


# =========================================================================== the compile
@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A mirror with every file fault on its own star plus three allStar faults, compiled."""
    root = faults.copy_mirror(tmp_path_factory.mktemp("faulty") / "sas")
    allstar = formats.read_allstar(root / mirror.allstar_relpath())
    n_faulted = len(FILE_PLAN)
    multi = [i for i in range(n_faulted, N_STARS) if allstar["NVISITS"][i] > 1]
    plan = dict(FILE_PLAN, nan_one_visit=multi[0])
    damaged = faults.inject(root, plan)
    # allStar faults: a row repeating a good star (same file), a star with -9999 in every
    # numeric column, a star whose ASPCAP abundances all failed (-9999, a normal DR14 case)
    dup_of, minus, no_xh = multi[1], multi[2], multi[3]
    table = allstar.copy()
    for name in table.dtype.names:
        if table.dtype[name].kind in "fi" and name not in ("LOCATION_ID",):
            table[name][minus] = -9999
    table["X_H"][no_xh] = -9999
    table["X_H_ERR"][no_xh] = -9999
    table = np.concatenate([table, table[dup_of:dup_of + 1]])
    formats.write_allstar(root / mirror.allstar_relpath(), table)
    out = root.parent / "out" / "faulty.h5"
    with faults.pinned_epoch():
        report = dataset.compile_dataset(MirrorSource(root), SELECTION, out, workers=2,
                                         chunk_size=4, progress=False)
    ids = faults.base_mirror().ids
    return dict(root=root, out=out, report=report, plan=plan, damaged=damaged, ids=ids,
                dup=(dup_of, len(table) - 1), minus=minus, no_xh=no_xh)


def test_every_fault_is_skipped_and_counted_by_reason(faulty):
    rep = faulty["report"]
    expected: dict[str, int] = {}
    for name in FILE_PLAN:
        reason = faults.FILE_FAULTS[name][1]
        expected[reason] = expected.get(reason, 0) + 1
    expected["duplicate"] = 1
    got = {reason: len(ids) for reason, ids in rep.by_reason().items()}
    assert got == expected
    # selected: the 20 rows + the duplicate row - the -9999 star (fails the Teff/SNR cuts)
    assert rep.selected == N_STARS and rep.written == N_STARS - len(FILE_PLAN) - 1
    # the one bad visit is skipped, its star and the other visits kept
    (vskip,) = rep.visits_skipped
    assert vskip["reason"] == "nonfinite" and vskip["visit"] == 0
    assert vskip["APOGEE_ID"] == faulty["ids"][faulty["plan"]["nan_one_visit"]]
    text = str(rep)
    for reason in expected:
        assert reason in text
    faults.record("compile_faults", {
        "file_faults": {n: faults.FILE_FAULTS[n][1] for n in faulty["plan"]},
        "allstar_faults": ["duplicate row", "-9999 in every column", "all abundances -9999"],
        "skipped_by_reason": got, "visits_skipped": len(rep.visits_skipped),
        "selected": rep.selected, "written": rep.written})


def test_each_message_names_the_file_and_the_problem(faulty):
    rep = faulty["report"]
    skips = {s["APOGEE_ID"]: s for s in rep.skipped if s["reason"] != "duplicate"}
    words = {"corrupt_fits": "FITS", "bad_checksum": "SHA-1", "bad_layout": ("HDU", "pixels"),
             "nonfinite": "NaN/inf", "bad_error": "error", "all_masked": "mask",
             "missing_file": "SDSS_LOCAL_SAS_MIRROR"}
    for name, row in FILE_PLAN.items():
        s = skips[faulty["ids"][row]]
        path = str(faulty["damaged"][name])
        assert s["path"] == path and path in s["message"], (name, s)
        w = words[s["reason"]]
        assert any(x in s["message"] for x in ((w,) if isinstance(w, str) else w)), (name, s)
    (dup,) = [s for s in rep.skipped if s["reason"] == "duplicate"]
    assert dup["allstar_index"] == faulty["dup"][1] and f"repeats row {faulty['dup'][0]}" in dup["message"]
    vskip = rep.visits_skipped[0]
    assert str(faulty["damaged"]["nan_one_visit"]) in vskip["message"]
    # the report travels with the file
    assert dataset.info(faulty["out"])["report"] == json.loads(json.dumps(rep.summary()))


def test_good_stars_are_unchanged(faulty):
    clean = _by_id(faults.clean_dataset())
    got = _by_id(faulty["out"])
    bad = {faulty["ids"][r] for r in FILE_PLAN.values()} | {faulty["ids"][faulty["minus"]]}
    assert set(got) == set(clean) - bad
    no_xh = faulty["ids"][faulty["no_xh"]]
    for aid, cols in got.items():
        for name in ("spectra", "spectra_err"):
            np.testing.assert_array_equal(cols[name], clean[aid][name], err_msg=f"{aid} {name}")
        if aid == no_xh:  # missing ASPCAP abundances stay -9999, never zero
            assert np.all(cols["labels"][:, 2:] == apogee.MISSING)
            np.testing.assert_array_equal(cols["labels"][:, :2], clean[aid]["labels"][:, :2])
        else:
            np.testing.assert_array_equal(cols["labels"], clean[aid]["labels"])
    vis_clean, vis_got = _by_id(faults.clean_dataset(), "visits"), _by_id(faulty["out"], "visits")
    one_visit_bad = faulty["ids"][faulty["plan"]["nan_one_visit"]]
    n_visits = 0
    for aid, cols in vis_got.items():
        keep = np.isin(vis_clean[aid]["visit"], cols["visit"])
        assert keep.sum() == len(vis_clean[aid]["visit"]) - (aid == one_visit_bad)
        np.testing.assert_array_equal(cols["spectra"], vis_clean[aid]["spectra"][keep])
        n_visits += len(cols["visit"])
    faults.record("compile_good_stars", {"stars_compared": len(got), "stars_identical": len(got),
                                         "visits_compared": n_visits, "visits_identical": n_visits})


def test_no_partial_output_is_left(faulty):
    assert faulty["out"].is_file()
    assert leftovers(faulty["out"].parent) == []


# =========================================================================== allStar faults
def _mirror_with_allstar(tmp_path, table) -> Path:
    root = tmp_path / "sas"
    (root / mirror.allstar_relpath()).parent.mkdir(parents=True)
    formats.write_allstar(root / mirror.allstar_relpath(), table)
    return root


def test_missing_allstar_column_names_the_file_and_column(tmp_path):
    a = formats.read_allstar(faults.base_mirror().root / mirror.allstar_relpath())
    names = [n for n in a.dtype.names if n != "VSCATTER"]
    root = _mirror_with_allstar(tmp_path, a[names])
    out = tmp_path / "out" / "x.h5"
    with pytest.raises(KeyError) as err:
        dataset.compile_dataset(MirrorSource(root), SELECTION, out, workers=1, progress=False)
    msg = str(err.value)
    assert "VSCATTER" in msg and str(root / mirror.allstar_relpath()) in msg
    assert not out.exists() and leftovers(out.parent) == []
    # reading an explicit column list fails at once, naming the file
    with pytest.raises(SpectrumError, match="VSCATTER") as err:
        MirrorSource(root, columns=("APOGEE_ID", "VSCATTER")).allstar()
    assert err.value.reason == "bad_layout" and str(root) in str(err.value)


def test_truncated_allstar_is_a_clear_error(tmp_path):
    src = faults.base_mirror().root / mirror.allstar_relpath()
    root = tmp_path / "sas"
    dst = root / mirror.allstar_relpath()
    dst.parent.mkdir(parents=True)
    dst.write_bytes(src.read_bytes()[:20000])
    with pytest.raises(SpectrumError) as err:
        MirrorSource(root).allstar()
    assert err.value.reason == "corrupt_fits" and str(dst) in str(err.value)


# =========================================================================== output place
def test_a_file_where_the_output_folder_should_be(tmp_path):
    (tmp_path / "datasets").write_text("not a folder")
    out = tmp_path / "datasets" / "train.h5"
    with pytest.raises(OSError) as err:
        dataset.compile_dataset(MirrorSource(faults.base_mirror().root), SELECTION, out,
                                workers=1, progress=False)
    assert str(tmp_path / "datasets") in str(err.value)
    assert (tmp_path / "datasets").read_text() == "not a folder"


def _sh(*cmd) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture
def mountpoint(tmp_path):
    """Mount helper: ``mount(kind, dir)`` ('ro' bind of an empty folder or a 2 MB tmpfs);
    skips when mounting is not permitted (not root, or no CAP_SYS_ADMIN in a container)."""
    mounted = []

    def mount(kind: str, size: str = "2m") -> Path:
        d = tmp_path / f"mnt_{kind}"
        d.mkdir()
        if kind == "ro":
            ok = _sh("mount", "--bind", str(d), str(d))
            if ok:
                mounted.append(d)
                ok = _sh("mount", "-o", "remount,ro,bind", str(d))
        else:
            ok = _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d))
            if ok:
                mounted.append(d)
        if not ok:
            pytest.skip(f"cannot mount a {kind} file system here (needs root with CAP_SYS_ADMIN)")
        return d

    yield mount
    for d in reversed(mounted):
        subprocess.run(["umount", str(d)], capture_output=True)


def test_read_only_output_folder(mountpoint, tmp_path):
    ro = mountpoint("ro")
    out = ro / "train.h5"
    with pytest.raises(OSError) as err:
        dataset.compile_dataset(MirrorSource(faults.base_mirror().root), SELECTION, out,
                                workers=1, progress=False)
    assert err.value.errno == errno.EROFS and str(ro) in str(err.value)
    assert list(ro.iterdir()) == []


def test_full_disk_then_resume_gives_the_clean_bytes(mountpoint):
    disk = mountpoint("tmpfs", "2m")
    out = disk / "train.h5"
    with faults.pinned_epoch(), pytest.raises(OSError) as err:
        dataset.compile_dataset(MirrorSource(faults.base_mirror().root), SELECTION, out,
                                workers=1, chunk_size=4, progress=False)
    msg = str(err.value)
    assert err.value.errno == errno.ENOSPC and "no space left" in msg and str(out) in msg
    faults.record("full_disk_message", msg)
    assert not out.exists()
    assert not [p for p in disk.rglob("*") if ".tmp" in p.name or p.name == "assembled.h5"]
    kept = sorted(p.name for p in (disk / "train.h5.partial").glob("chunk_*.npz"))
    chunks = cache.ChunkDir(disk / "train.h5.partial")
    for name in kept:  # every chunk kept for the resume is complete
        chunks.read(int(name[len("chunk_"):-len(".npz")]))
    # more room (as a user would free some), same command: it resumes and finishes
    assert _sh("mount", "-o", "remount,size=64m", str(disk))
    with faults.pinned_epoch():
        rep = dataset.compile_dataset(MirrorSource(faults.base_mirror().root), SELECTION, out,
                                      workers=1, chunk_size=4, progress=False)
    assert rep.resumed_chunks == len(kept) and rep.written == N_STARS
    assert _sha(out) == _sha(faults.clean_dataset())
    assert leftovers(disk) == []


# =========================================================================== catalog faults
def test_catalog_skips_bad_stars_and_keeps_the_good_ones(faulty, tmp_path):
    from astropy.io import fits

    from astronn_paper.analysis import catalog

    model = faults.tiny_model()
    rows = np.arange(N_STARS)
    kw = dict(model_folder=model, rows=rows, chunk_size=8, mc=5, progress=False)
    clean = catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource(faults.base_mirror().root),
                                  out_path=tmp_path / "clean.fits", **kw)
    bad = catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource(faulty["root"]),
                                out_path=tmp_path / "faulty.fits", **kw)
    assert clean.n_predicted == N_STARS and not clean.skipped
    file_faulted = sorted(FILE_PLAN.values())
    expected: dict[str, int] = {}
    for name in FILE_PLAN:
        r = faults.FILE_FAULTS[name][1]
        expected[r] = expected.get(r, 0) + 1
    assert bad.skipped == expected and bad.n_predicted == N_STARS - len(file_faulted)
    a, b = fits.getdata(tmp_path / "clean.fits"), fits.getdata(tmp_path / "faulty.fits")
    good = np.setdiff1d(rows, file_faulted)
    for col in ("astroNN", "astroNN_error", "astroNN_model_error", "astroNN_predictive_error"):
        np.testing.assert_array_equal(a[col][good], b[col][good], err_msg=col)
        assert np.all(b[col][file_faulted] == apogee.MISSING)
    assert np.all(b["OUTSIDE_TRAINING"][file_faulted] & 128)
    assert json.loads(fits.getheader(tmp_path / "faulty.fits", 1)["SKIPPED"]) == expected
    faults.record("catalog_good_stars", {"stars_compared": len(good), "stars_identical": len(good),
                                         "skipped_by_reason": bad.skipped})
    assert leftovers(tmp_path) == []


# =========================================================================== model folders
def _bad_folders(tmp_path) -> dict[str, Path]:
    from astronn_paper.model import train

    good = faults.tiny_model()
    params = json.loads((good / "astroNN_model_parameter.json").read_text())
    out = {}

    def folder(name):
        d = tmp_path / name
        shutil.copytree(good, d)
        out[name] = d
        return d

    (folder("missing_weights") / "model_weights.h5").unlink()
    (folder("missing_parameters") / "astroNN_model_parameter.json").unlink()
    w = folder("truncated_weights") / "model_weights.h5"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 3])
    other = dict(params, id=train.NETWORKS["bcnn"].astronn_class,
                 hidden=list(train.NETWORKS["bcnn"].num_hidden))
    (folder("other_architecture") / "astroNN_model_parameter.json").write_text(json.dumps(other))

    def cut(v):  # 21 targets instead of 22, in every per-label entry
        if isinstance(v, dict):
            return {k: cut(x) for k, x in v.items()}
        if isinstance(v, list) and len(v) == len(apogee.TARGETS):
            return v[:21]
        return 21 if v == len(apogee.TARGETS) else v

    fewer = dict(params, **{k: cut(params[k]) for k in
                            ("labels", "labels_mean", "labels_std", "targetname")})
    (folder("wrong_target_count") / "astroNN_model_parameter.json").write_text(json.dumps(fewer))
    return out


@pytest.fixture(scope="module")
def bad_folders(tmp_path_factory):
    return _bad_folders(tmp_path_factory.mktemp("bad_models"))


@pytest.fixture(scope="module")
def an_apstar():
    root = faults.base_mirror().root
    return faults.apstar_path(root, formats.read_allstar(root / mirror.allstar_relpath()), 0)


BAD_FOLDERS = ("missing_weights", "missing_parameters", "truncated_weights",
               "other_architecture", "wrong_target_count")


@pytest.mark.parametrize("name", BAD_FOLDERS)
def test_bad_model_folder_is_refused_clearly(bad_folders, an_apstar, name, capsys, tmp_path):
    from astronn_paper.analysis import catalog
    from astronn_paper.model import engine, predict, predictions

    folder = bad_folders[name]
    with pytest.raises(engine.ModelFolderError) as err:
        predictions.load_model(folder)
    assert str(folder) in str(err.value)
    assert predict.run([str(an_apstar)], model_dir=folder, mc=2) == predict.EXIT_BAD_INPUT
    msg = capsys.readouterr().err
    assert msg.startswith("error: ") and str(folder) in msg and "Traceback" not in msg
    out = tmp_path / "cat.fits"
    with pytest.raises(engine.ModelFolderError):
        catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource(faults.base_mirror().root),
                              model_folder=folder, rows=np.arange(2), out_path=out, mc=2,
                              progress=False)
    assert leftovers(tmp_path) == [] and not out.exists()
    faults.record(f"model_folder:{name}", msg.strip().splitlines()[0][:300])


@pytest.mark.subprocess
def test_predict_command_exits_nonzero_without_a_stack_trace(bad_folders, an_apstar):
    proc = subprocess.run([sys.executable, "-m", "astronn_paper", "predict", str(an_apstar),
                           "--model", str(bad_folders["truncated_weights"]), "--mc", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]   # a user error: one line, exit 2
    assert "Traceback" not in proc.stderr
    assert str(bad_folders["truncated_weights"]) in proc.stderr


# =========================================================================== offline
@pytest.fixture
def blocked_network(monkeypatch):
    """Sockets that refuse to connect or resolve; every attempt is recorded."""
    attempts = []

    def refuse(what):
        def f(*args, **kwargs):
            attempts.append((what, repr(args)[:200]))
            raise OSError(errno.ENETUNREACH, f"network blocked by the test ({what})")
        return f

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


def test_the_chain_runs_offline(blocked_network, monkeypatch, tmp_path, capsys):
    """Compile from a mirror (forked workers too), astroNN's DR14 path functions on it,
    model loading, the predict command and the catalog, with the network blocked."""
    from astroNN.apogee import allstar, combined_spectra, visit_spectra

    from astronn_paper.analysis import catalog
    from astronn_paper.model import engine, predict

    base = faults.base_mirror()
    model = faults.tiny_model()
    monkeypatch.setenv(mirror.MIRROR_ENV, str(base.root))
    src = MirrorSource()
    with faults.pinned_epoch():
        rep = dataset.compile_dataset(src, SELECTION, tmp_path / "train.h5", workers=2,
                                      chunk_size=4, progress=False)
    assert rep.written == N_STARS
    assert _sha(tmp_path / "train.h5") == _sha(faults.clean_dataset())
    a = src.allstar()
    assert allstar(dr=14, flag=0) == str(src.allstar_path)
    n_apo25m = 0
    for i in range(4):
        r = a[i]
        if r["TELESCOPE"] != b"apo25m":
            continue
        aid, loc = r["APOGEE_ID"].decode(), int(r["LOCATION_ID"])
        assert visit_spectra(dr=14, location=loc, apogee=aid, verbose=0) == str(src.apstar_path(i))
        assert combined_spectra(dr=14, location=loc, apogee=aid, verbose=0) == str(src.aspcapstar_path(i))
        n_apo25m += 1
    assert n_apo25m >= 1
    engine.load_model(model)
    files = [str(src.apstar_path(i)) for i in range(2)] + [str(src.aspcapstar_path(0))]
    assert predict.run(files, model_dir=model, mc=3, out=str(tmp_path / "labels.csv")) == 0
    rep = catalog.build_catalog(faults.TRAIN_PROFILE, source=src, model_folder=model,
                                rows=np.arange(4), out_path=tmp_path / "cat.fits", mc=3,
                                progress=False)
    assert rep.n_predicted == 4
    assert blocked_network == [], blocked_network
    faults.record("offline", {"network_attempts": len(blocked_network),
                              "steps": ["compile (2 forked workers)", "astroNN DR14 paths",
                                        "load_model", "predict command", "catalog"]})


@pytest.mark.subprocess
def test_predict_command_with_tf_determinism_inherited(an_apstar, tmp_path):
    """``TF_DETERMINISTIC_OPS=1`` in the environment (set by any process that trained a
    network, and inherited by the notebooks it starts) used to make ``load_folder`` fail
    ("Random ops require a seed"): loading must work and the command succeed."""
    out = tmp_path / "labels.csv"
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1")
    proc = subprocess.run([sys.executable, "-m", "astronn_paper", "predict", str(an_apstar),
                           "--model", str(faults.tiny_model()), "--mc", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and leftovers(tmp_path) == []
