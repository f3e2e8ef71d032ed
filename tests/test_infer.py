"""The fast MC-dropout engine reproduces astroNN's ``.test()`` (astronn_paper.model.engine).

Two tiny models (ApogeeBCNNCensored and ApogeeBCNN with the paper's layer sizes), trained
for one epoch on 300 synthetic spectra, saved and re-loaded with ``load_folder``, serve
every test (session fixture).

Tolerances
----------
* dropout off, ``fp32``: the engine's outputs equal the Keras forward pass (every MCDropout
  disabled) to float32 precision: ``rtol = atol = 2e-5`` on the normalised outputs (observed
  ~1e-7; float32 sums of ~7500 terms in a different order differ by ~1e-6 relative at most);
* dropout off, ``bf16`` (the 7512 -> 192 dense layer with bfloat16 operands and output, float32
  accumulation): ``atol = 2e-2`` on the normalised outputs and log-variances, and the median
  absolute difference below ``2e-3`` (each operand and the layer's output carry a relative
  rounding error <= 2**-8; observed: max ~2e-3 / median ~5e-4 on the shipped model, see the
  test for the tiny random-weight models). For scale: the MC standard deviation of a mean
  of 100 passes is ~1e-2 in these units on the shipped model;
* dropout on (100 passes each, independent masks): per spectrum and label,
  ``z = (mean_engine - mean_astroNN) / (s * sqrt(2 / 100))`` with ``s`` the per-pass standard
  deviation is ~N(0, 1). Per label, over N spectra: ``|mean z| < 5 / sqrt(N)`` and
  ``0.7 < std z < 1.3`` (sampling error of a std from N values ~ 1/sqrt(2N) = 0.06 for
  N = 120), and ``max |z| < 6``. The same test is applied to the log of the model variance
  (sample variance of n = 100 passes: sd of log var = sqrt((kurtosis - 1) / n), ~0.14 for
  Gaussian passes, i.e. the std itself has the quoted ~7 % error) and to the mean
  log-variance of the aleatoric head.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.model import engine

N_PIX = apogee.N_PIX_GAP_DELETED
MC = 100


def _spectra(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuum-normalised-looking spectra (flux ~ 1 with absorption features) and labels
    that depend on them, so that the tiny networks learn something non-trivial."""
    rng = np.random.default_rng(seed)
    labels = rng.standard_normal((n, len(apogee.TARGETS))).astype(np.float32)
    lines = rng.integers(0, N_PIX, size=(len(apogee.TARGETS), 40))
    x = np.ones((n, N_PIX), np.float32)
    for j in range(len(apogee.TARGETS)):
        x[:, lines[j]] -= 0.05 * (1.0 + 0.5 * labels[:, j:j + 1])
    x += 0.01 * rng.standard_normal(x.shape).astype(np.float32)
    y = labels.copy()
    y[:, 0] = 4700 + 400 * labels[:, 0]
    y[:, 1] = 2.5 + 0.8 * labels[:, 1]
    y[:, 2:] = 0.2 * labels[:, 2:]
    return x, y


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{'censored': model, 'bcnn': model}: normalisation from a 1-epoch fit, random weights,
    saved and reloaded with load_folder."""
    from astronn_paper.model import train

    x, y = _spectra(128, seed=11)
    out = {}
    root = tmp_path_factory.mktemp("infer_models")
    rng = np.random.default_rng(2019)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in ("censored", "bcnn"):
            model = train.build_model(train.NETWORKS[kind], epochs=1, batch_size=64)
            model.fit(x, y, labels_err=np.full_like(y, 0.01))
            # astroNN's layers share one unseeded initializer, so layers of equal shape start
            # (and after one epoch nearly stay) identical; distinct random weights make any
            # mis-wiring of branches or heads visible
            model.keras_model.set_weights([
                rng.normal(0.0, 0.05, w.shape).astype(np.float32)
                for w in model.keras_model.get_weights()])
            model.save(str(root / kind))
            out[kind] = engine.load_model(root / kind)
    return out


@pytest.fixture(scope="session")
def test_spectra():
    x, _ = _spectra(200, seed=12)
    return x


def _keras_deterministic(model, xn: np.ndarray) -> np.ndarray:
    """The Keras prediction model with every MCDropout layer switched off."""
    from astroNN.nn.layers import MCDropout

    drops = [lay for lay in model.keras_model_predict.layers if isinstance(lay, MCDropout)]
    assert len(drops) >= 3
    for lay in drops:
        lay.disable_layer = True
    try:
        return np.asarray(model.keras_model_predict(xn[:, :, None], training=False))
    finally:
        for lay in drops:
            lay.disable_layer = False


#: deterministic-pass tolerances per precision: (rtol, atol, median absolute difference)
DET_TOL = {"fp32": (2e-5, 2e-5, 2e-5), "bf16": (0.0, 2e-2, 2e-3)}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["censored", "bcnn"])
def test_deterministic_pass_equals_keras(models, test_spectra, kind, precision):
    model = models[kind]
    eng = engine.engine(model)
    x = test_spectra[:64].copy()
    x[3, 100:110] = -9999.0          # astroNN's magic value passes through normalisation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # bf16 forced on a CPU without it
        pred = eng.predict(x, deterministic=True, progress=False, return_samples=True,
                           precision=precision)
    assert pred.meta["precision"] == precision
    ref = _keras_deterministic(model, eng.zscore(x))
    n = len(model.targetname)
    rtol, atol, med = DET_TOL[precision]
    got = (pred.samples[:, 0] - eng.labels_mean) / eng.labels_std
    np.testing.assert_allclose(got, ref[:, :n], rtol=rtol, atol=atol)
    lv = pred.samples_logvar[:, 0] - 2 * np.log(eng.labels_std)
    np.testing.assert_allclose(lv, ref[:, n:], rtol=rtol, atol=atol)
    assert np.median(np.abs(got - ref[:, :n])) <= med
    assert np.median(np.abs(lv - ref[:, n:])) <= med
    assert np.all(pred.model == 0)
    expected = ref[:, :n] * eng.labels_std + eng.labels_mean      # astroNN's denormalisation
    assert np.all(np.abs(pred.mean - expected)
                  <= max(rtol, atol) * (np.abs(expected) + eng.labels_std))


def test_graph_is_the_papers(models):
    """The engine found what the paper describes: 19 element branches (every abundance but
    Fe, which comes from the trunk) on the ASPCAP windows (C and N 256 -> 64 units, the
    others 32 -> 16), conv 2 -> 4 filters of length 8, pool 4."""
    a = engine.engine(models["censored"]).arch
    assert len(a.branches) == 19
    units = sorted((br.w1.shape[1], br.w2.shape[1]) for br in a.branches)
    assert units.count((256, 64)) == 2 and units.count((32, 16)) == 17
    assert a.conv1_w.shape == (8, 2) and a.conv2_w.shape == (8, 2, 4) and a.pool == 4
    assert a.w3.shape == (7512, 192) and a.n_out == 22
    assert {a.rate_a1, a.rate_flat, a.rate_h3} == {0.3}
    windows = apogee.aspcap_windows()
    c = next(br for br in a.branches if br.name == "c_dense")
    np.testing.assert_array_equal(c.pixels, windows["C"])
    assert engine.engine(models["bcnn"]).arch.branches == []


def _z(a, b, s, n=MC):
    return (a - b) / (s * np.sqrt(2.0 / n))


def _check_z(z, label):
    n = z.shape[0]
    assert np.all(np.abs(z.mean(axis=0)) < 5 / np.sqrt(n)), (label, z.mean(axis=0))
    assert np.all((z.std(axis=0) > 0.7) & (z.std(axis=0) < 1.3)), (label, z.std(axis=0))
    assert np.abs(z).max() < 6, (label, np.abs(z).max())


_ASTRONN_REF: dict = {}


def _astronn_test(model, kind, x):
    """astroNN's ``.test()`` of ``x`` (cached per network: both precisions compare to it)."""
    if kind not in _ASTRONN_REF:
        model.mc_num = MC
        # seed astroNN's own dropout draws too, so that this one-draw statistical comparison
        # is reproducible rather than flaky (the tolerances are ~4-5 sigma of the MC noise)
        import tensorflow as tf

        tf.keras.utils.set_random_seed(11)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _ASTRONN_REF[kind] = model.test(x.copy())
    return _ASTRONN_REF[kind]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind,n", [("censored", 120), ("bcnn", 80)])
def test_mc_statistics_match_astronn_test(models, test_spectra, kind, n, precision):
    model = models[kind]
    x = test_spectra[:n]
    ref_mean, ref_unc = _astronn_test(model, kind, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # bf16 forced on a CPU without it
        pred = engine.predict(model, x, mc=MC, seed=5, progress=False, return_samples=True,
                              precision=precision)
    assert pred.meta["precision"] == precision

    s = pred.samples.std(axis=1)                      # per-pass std (label units)
    assert np.all(s > 0)
    _check_z(_z(pred.mean, ref_mean, s), "mean")
    # model variance: log of a sample variance from n passes has sd sqrt((kurt - 1) / n)
    dev = pred.samples - pred.samples.mean(axis=1, keepdims=True)
    kurt = (dev**4).mean(axis=1) / (dev**2).mean(axis=1) ** 2
    z_model = (np.log(pred.model**2) - np.log(ref_unc["model"] ** 2)) / np.sqrt(2 * (kurt - 1) / MC)
    _check_z(z_model, "model")
    # aleatoric: mean over passes of the log-variance head
    lv = pred.samples_logvar
    z_pred = _z(np.log(pred.predictive**2), np.log(ref_unc["predictive"] ** 2), lv.std(axis=1))
    _check_z(z_pred, "predictive")
    # astroNN's combination
    np.testing.assert_allclose(pred.total**2, pred.model**2 + pred.predictive**2, rtol=1e-12)
    np.testing.assert_allclose(ref_unc["total"] ** 2, ref_unc["model"] ** 2
                               + ref_unc["predictive"] ** 2, rtol=1e-5)


def test_reproducible_and_independent_of_chunking(models, test_spectra):
    model = models["censored"]
    x = test_spectra[:9]
    a = engine.predict(model, x, mc=20, seed=3, progress=False)
    b = engine.predict(model, x, mc=20, seed=3, progress=False, batch_size=2, workers=1)
    c = engine.predict(model, x, mc=20, seed=4, progress=False)
    tail = engine.predict(model, x[4:], mc=20, seed=3, progress=False, start_index=4)
    for f in ("mean", "model", "predictive", "total"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(getattr(a, f)[4:], getattr(tail, f), rtol=1e-6, atol=1e-9)
    assert np.all(a.model != c.model)
    assert a.meta["seed"] == 3 and a.meta["mc"] == 20


def test_inputs(models, test_spectra, tmp_path):
    import h5py

    model = models["censored"]
    x = test_spectra[:5].copy()
    err = np.full_like(x, 0.01)
    p = engine.predict(model, x, err, mc=10, seed=1, progress=False)
    assert np.all(err == 0.01) and np.all(x == test_spectra[:5])   # nothing modified
    # x_err is ignored, as by astroNN; (N, 7514, 1) and h5py datasets are accepted
    q = engine.predict(model, x[:, :, None], None, mc=10, seed=1, progress=False)
    np.testing.assert_array_equal(p.mean, q.mean)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["x"] = x
    with h5py.File(tmp_path / "x.h5", "r") as f:
        r = engine.predict(model, f["x"], mc=10, seed=1, progress=False, batch_size=2)
    np.testing.assert_allclose(p.mean, r.mean, rtol=1e-6)
    single = engine.predict(model, x[0], mc=10, seed=1, progress=False)
    np.testing.assert_allclose(single.mean[0], p.mean[0], rtol=1e-6)
    with pytest.raises(ValueError, match="7514"):
        engine.predict(model, x[:, :-1], progress=False)
    with pytest.raises(ValueError, match="x_err"):
        engine.predict(model, x, err[:2], progress=False)
    bad = x.copy()
    bad[1, 5] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        engine.predict(model, bad, mc=10, progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        engine.predict(model, x, mc=1, progress=False)


def test_prediction_table(models, test_spectra):
    pred = engine.predict(models["censored"], test_spectra[:4], mc=10, seed=2, progress=False)
    t = pred.to_table(ids=["a", "b", "c", "d"])
    assert len(t) == 4 and t.colnames[:5] == ["id", "teff", "teff_err", "teff_err_model",
                                              "teff_err_predictive"]
    assert str(t["teff"].unit) == "K" and str(t["Fe_err"].unit) == "dex"
    np.testing.assert_array_equal(t["Fe"], pred.column("Fe"))
    mean, unc = pred.as_astronn()
    assert set(unc) == {"total", "model", "predictive"} and mean.shape == (4, 22)
    sub = pred[1:3]
    assert len(sub) == 2 and np.all(sub.mean == pred.mean[1:3])


def test_model_folder_errors(models, tmp_path):
    import shutil
    from pathlib import Path

    with pytest.raises(engine.ModelFolderError, match="does not exist"):
        engine.load_model(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "astroNN_model_parameter.json").write_text("{}")
    with pytest.raises(engine.ModelFolderError, match="model_weights.h5"):
        engine.load_model(tmp_path / "half")
    censored = Path(models["censored"].fullfilepath)
    bcnn = Path(models["bcnn"].fullfilepath)
    params = json.loads((censored / "astroNN_model_parameter.json").read_text())
    for name, ident, weights in (("other", "ApogeeCNN", None), ("broken", None, b"not hdf5"),
                                 ("mixed", None, bcnn / "model_weights.h5")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "astroNN_model_parameter.json").write_text(
            json.dumps(params | ({"id": ident} if ident else {})))
        if isinstance(weights, Path):
            shutil.copy(weights, folder / "model_weights.h5")
        else:
            shutil.copy(censored / "model_weights.h5", folder / "model_weights.h5")
            if weights is not None:
                (folder / "model_weights.h5").write_bytes(weights)
    with pytest.raises(engine.ModelFolderError, match="ApogeeCNN"):
        engine.load_model(tmp_path / "other")
    with pytest.raises(engine.ModelFolderError, match="HDF5"):
        engine.load_model(tmp_path / "broken")
    with pytest.raises(engine.ModelFolderError, match="cannot load"):
        engine.load_model(tmp_path / "mixed")


# ----------------------------------------------------------------------------- predict command
def _write_star_files(folder):
    """A 1-visit and a 3-visit apStar (DR14 layouts), a DR17-like single-visit apStar (3 rows,
    NVISITS = 1), an aspcapStar, a non-APOGEE FITS file and a non-FITS file."""
    from astropy.io import fits

    from astronn_paper.survey import formats
    from astronn_paper.survey.source import ApStar, AspcapStar

    rng = np.random.default_rng(0)
    shape = 300.0 * (1 + 0.1 * np.sin(np.arange(apogee.N_PIX) / 1500.0))

    def star(nrows, nvisits, name):
        flux = (shape * (1 - 0.05 * rng.random((nrows, apogee.N_PIX)))).astype(np.float32)
        mask = np.zeros(flux.shape, np.int16)
        mask[:, 500:510] = 1 << 12                                 # SIG_SKYLINE: masked
        return ApStar(name, flux, np.full_like(flux, 3.0), mask,
                      header={"NVISITS": nvisits, "OBJID": name})

    files = {"ap1": folder / "apStar-r8-2M1.fits", "ap3": folder / "apStar-r8-2M3.fits",
             "dr17": folder / "apStar-dr17-2M9.fits", "aspcap": folder / "aspcapStar-2M4.fits",
             "other": folder / "image.fits", "text": folder / "text.fits"}
    formats.write_apstar(files["ap1"], star(1, 1, "2M1"))
    five = star(5, 3, "2M3")
    formats.write_apstar(files["ap3"], five)
    with fits.open(files["ap3"]) as hdul:                           # DR17 single visit
        out = fits.HDUList([h.copy() for h in hdul])
    out[0].header["NVISITS"], out[0].header["OBJID"] = 1, "2M9"
    for h in out[1:8]:
        if h.data is not None and h.data.ndim == 2:
            h.data = h.data[:3]
    out.writeto(files["dr17"])
    formats.write_aspcapstar(files["aspcap"], AspcapStar(
        "2M4", (1 - 0.05 * rng.random(apogee.N_PIX)).astype(np.float32),
        np.full(apogee.N_PIX, 0.01, np.float32)))
    fits.HDUList([fits.PrimaryHDU(np.zeros((10, 10)))]).writeto(files["other"])
    files["text"].write_text("not a FITS file")
    return files, five


def test_predict_command(models, tmp_path, capsys):
    from astropy.table import Table

    from astronn_paper.cli import main
    from astronn_paper.model import predict
    from astronn_paper.survey import normalise

    files, five = _write_star_files(tmp_path)
    model_dir = models["censored"].fullfilepath
    out = tmp_path / "labels.csv"
    status = predict.run([files[k] for k in ("ap1", "ap3", "dr17", "aspcap")], model_dir,
                         mc=10, seed=1, out=out)
    assert status == 0
    t = Table.read(out, format="ascii.csv", comment="#")
    assert list(t["kind"]) == ["apStar", "apStar", "apStar", "aspcapStar"]
    # global-weighted combined row of the 3-visit star; the single visit written with the
    # N + 2 rule (3 rows, NVISITS = 1) is read from row 0 (survey.release.apstar_rows)
    assert list(t["row"]) == [0, 1, 0, -1]
    assert list(t["apogee_id"][:3]) == ["2M1", "2M3", "2M9"]
    assert np.all(np.isfinite(t["teff"])) and np.all(t["Fe_err"] > 0)
    # the 3-visit star is predicted from its normalised row 1
    spec, _ = normalise.continuum(five.flux[1], five.err[1], five.bitmask[1])
    ref = engine.predict(models["censored"], spec, mc=10, seed=1, progress=False, start_index=1)
    assert t["teff"][1] == pytest.approx(ref.mean[0, 0], rel=1e-6)
    assert "seed = 1" in out.read_text()
    # FITS output with provenance in the header
    status = predict.run([files["ap1"]], model_dir, mc=10, seed=1, out=tmp_path / "l.fits")
    assert status == 0 and Table.read(tmp_path / "l.fits").meta["MC"] == 10
    # clean failures: exit status, one line on stderr, no traceback
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "missing.fits"), "--model", model_dir]) != 0
    assert main(["predict", str(files["other"]), str(files["text"]), "--model", model_dir]) != 0
    err = capsys.readouterr().err
    assert "no such file" in err and "not an APOGEE apStar or aspcapStar" in err
    assert "not a readable FITS file" in err and "Traceback" not in err
    assert main(["predict", str(files["ap1"]), str(files["other"]), "--model", model_dir,
                 "--mc", "5"]) == predict.EXIT_BAD_INPUT      # the good file is still predicted
    captured = capsys.readouterr()
    assert "2M1" in captured.out and "image.fits" in captured.err
    assert main(["predict", str(files["ap1"]), "--model", str(tmp_path / "nomodel")]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_benchmarks_run_and_report(models, tmp_path, capsys):
    """``bench inference`` and ``bench memory`` on a tiny model and a few spectra: they print
    throughputs, the ratio and the peak memory, and write the JSON they promise."""
    from astronn_paper.cli import main

    model_dir = models["censored"].fullfilepath
    out = tmp_path / "bench.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["bench", "inference", "--model", model_dir, "--n", "24", "--mc", "4",
                     "--json", str(out)]) == 0
        text = capsys.readouterr().out
        assert re.search(r"ratio engine / astroNN: [\d.]+x", text)
        assert re.search(r"agreement: .* mean [-+][\d.]+, std [\d.]+", text)
        res = json.loads(out.read_text())
        assert res["engine_spectra_per_s"] > 0 and res["astronn_spectra_per_s"] > 0
        assert main(["bench", "memory", "--model", model_dir, "--n", "300",
                     "--dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "300 spectra streamed from HDF5" in text
    peak = re.search(r"peak RSS: (\d+) MB with the model loaded, (\d+) MB after", text)
    assert peak and int(peak.group(2)) >= int(peak.group(1)) > 0
    assert not list(tmp_path.glob("tmp*"))          # the temporary spectra file is gone


# ----------------------------------------------------------------------------- precision, RNG
def test_precision_resolution(monkeypatch):
    from astronn_paper.model import blas

    monkeypatch.setenv(blas.PRECISION_ENV, "fp32")
    assert blas.resolve_precision() == "fp32"
    assert blas.resolve_precision("bf16") in ("bf16",)            # the argument wins
    monkeypatch.setenv(blas.PRECISION_ENV, "fp16")
    with pytest.raises(blas.PrecisionError, match="ASTRONN_PAPER_PRECISION='fp16'"):
        blas.resolve_precision()
    with pytest.raises(blas.PrecisionError, match="auto, fp32, bf16"):
        blas.resolve_precision("double")
    # a CPU without bfloat16 instructions: auto falls back to fp32, forcing bf16 warns
    monkeypatch.delenv(blas.PRECISION_ENV)
    monkeypatch.setattr(blas, "cpu_flags", lambda: frozenset({"avx2", "fma", "avx512f"}))
    blas.bf16_native.cache_clear()
    try:
        assert not blas.bf16_native()
        assert blas.resolve_precision() == "fp32"
        assert blas.resolve_precision("auto") == "fp32"
        with pytest.warns(RuntimeWarning, match="without native bfloat16"):
            assert blas.resolve_precision("bf16") == "bf16"
    finally:
        blas.bf16_native.cache_clear()
    # this CPU: auto means bf16 exactly when its flags and TF's oneDNN allow it
    monkeypatch.undo()
    real = any(f in blas.cpu_flags() for f in blas.BF16_FLAGS) and blas._onednn_enabled()
    assert blas.bf16_native() == real
    assert blas.resolve_precision("auto") == ("bf16" if real else "fp32")


def test_precision_env_reaches_the_engine(models, test_spectra, monkeypatch):
    from astronn_paper.model import blas

    x = test_spectra[:3]
    monkeypatch.setenv(blas.PRECISION_ENV, "fp32")
    a = engine.predict(models["censored"], x, mc=10, seed=1, progress=False)
    monkeypatch.setenv(blas.PRECISION_ENV, "bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b = engine.predict(models["censored"], x, mc=10, seed=1, progress=False)
    assert a.meta["precision"] == "fp32" and b.meta["precision"] == "bf16"
    # same masks, different rounding of one product: close, not identical
    assert not np.array_equal(a.mean, b.mean)
    np.testing.assert_allclose(a.mean, b.mean, rtol=0, atol=0.05 * np.max(a.model))


def test_bf16_rounding():
    from astronn_paper.model import blas, kernels

    x = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5, 0.0, 3.0e38],
                 np.float32)
    # ties to even: 1 + 2**-8 -> 1, 1 + 3 * 2**-8 -> 1 + 2**-6; above the tie rounds up
    np.testing.assert_array_equal(blas.to_bf16_float(x)[:4],
                                  np.float32([1.0, 1.0, 1 + 2**-6, 1 + 2**-7]))
    assert blas.to_bf16_float(x)[4] == -2.5 and blas.to_bf16_float(x)[5] == 0.0
    rng = np.random.default_rng(0)
    y = rng.standard_normal((3, 1000)).astype(np.float32)
    rel = np.abs(blas.to_bf16_float(y) - y) / np.abs(y)
    assert rel.max() <= 2.0**-8 and rel.mean() > 2.0**-11     # unit roundoff 2**-8
    out = np.empty(y.shape, np.uint16)
    np.testing.assert_array_equal(kernels.to_bf16_rows(y, out), blas.to_bf16_bits(y))
    # the bf16 product agrees with the float32 product of the rounded operands
    a = rng.standard_normal((20, 300)).astype(np.float32)
    w = rng.standard_normal((300, 7)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = blas.Bf16Matrix(w).matmul(blas.to_bf16_bits(a))
    ref = blas.to_bf16_float(a).astype(np.float64) @ blas.to_bf16_float(w)
    assert np.all(np.abs(got - ref) <= 2.0**-8 * np.abs(ref) + 1e-3 * np.sqrt(300))


def test_random_streams():
    """SplitMix64 at counters: matches a pure-Python reference, blocks are consistent, the
    uint16 draws are uniform, and the keep rate is what the threshold says."""
    from astronn_paper.model import kernels

    def splitmix(key, c):
        m = (1 << 64) - 1
        z = (key + (c + 1) * 0x9E3779B97F4A7C15) & m
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    key = engine._stream_key(7, 3)
    assert key != engine._stream_key(7, 4) and key != engine._stream_key(8, 3)
    full = kernels.fill_random(key, 50, 0, 0, np.empty((40, 50), np.uint64))
    assert int(full[5, 17]) == splitmix(int(key), 5 * 50 + 17)
    part = kernels.fill_random(key, 50, 5, 30, np.empty((3, 20), np.uint64))
    np.testing.assert_array_equal(part, full[5:8, 30:50])
    big = kernels.fill_random(key, 4096, 0, 0, np.empty((64, 4096), np.uint64)).view(np.uint16)
    counts = np.bincount((big >> 12).ravel(), minlength=16)        # 1,048,576 draws, 16 bins
    chi2 = ((counts - big.size / 16) ** 2 / (big.size / 16)).sum()
    assert chi2 < 45                                               # 15 dof: p ~ 1e-4
    thr = engine._threshold(0.3)
    keep = (big >= thr).mean()
    assert abs(keep - (1 - thr / 65536)) < 5 * np.sqrt(0.21 / big.size)


def test_fused_convolution_equals_unfused(models, test_spectra):
    """The generated fused kernel (conv 2, relu, pool, both dropouts) gives the pooled maps of
    the unfused path (masked windows, banded product, pooling): same masks, float32 sums in
    another order; and kernels_conv.py is what the generator writes today."""
    from pathlib import Path

    from astronn_paper.model import kernels

    shipped = Path(kernels.__file__).with_name("kernels_conv.py").read_text()
    assert shipped == kernels.conv_pool_module()
    eng = engine.engine(models["censored"])
    assert kernels.conv_pool_kernel(eng.arch.pool, *eng.arch.conv2_w.shape) is not None
    assert kernels.conv_pool_kernel(3, 8, 2, 4) is None
    x = test_spectra[:6]
    fused = eng.predict(x, mc=12, seed=9, progress=False, precision="fp32", return_samples=True)
    eng.unfused = True
    try:
        plain = eng.predict(x, mc=12, seed=9, progress=False, precision="fp32",
                            return_samples=True)
    finally:
        eng.unfused = False
    scale = eng.labels_std
    np.testing.assert_allclose((fused.samples - plain.samples) / scale, 0, atol=2e-5)
    np.testing.assert_allclose(fused.samples_logvar - plain.samples_logvar, 0, atol=2e-5)
