"""The decorrelated-training study: why the censored network shrinks M13's Al spread.

The censored network, trained on the standard synthetic survey, predicts most abundances
from the star's overall metallicity and the population's label correlations rather than
from each element's own lines (the element response test, :mod:`.response`). This study
trains the same network, with the paper's settings (:data:`~astronn_paper.model.train.NETWORKS`
``censored``, the profile's epochs, batch size and training-set size, 10 % validation), on a
training set of the same survey physics and noise -- same rows, positions, Teff, [Fe/H],
SNRs, forward model, instrument and ASPCAP-like label-noise model -- whose field labels
around the training box are *decorrelated*
(:func:`astronn_paper.synth.population.decorrelate_labels`): every [X/Fe] drawn from the
population's marginal independently of the other elements, of [Fe/H], Teff and log g, and
log g drawn independently of Teff. It then compares, beside the standard network:

* the self-responses R[j, j] (median d pred_j / d true_j; :mod:`.response`),
* M13's recovered Al spread and Mg-Al correlation (:mod:`.clusters`),
* the field precision on the standard high-SNR test set, against the truth
  (:func:`.scoring.score`).

Decorrelating the labels creates stars the standard population never has, and the forward
model plus the paper's continuum normalisation fail on some of them (cool, mostly metal-rich
dwarfs with a high [O/Fe], whose strong OH bands leave the normalised flux far above 1). The
compile rejects those spectra (reason ``failed_normalisation``,
:func:`astronn_paper.survey.normalise.failed_normalisation`); what is left above
:data:`FLUX_MAX` is also left out (:func:`invalid_spectra`, :func:`clean_training_set`;
recorded in the cleaned file's ``excluded`` attribute). The training-set sizes are printed by
:func:`format_report`.

Usage::

    from astronn_paper.analysis import decorrelated as dec
    path = dec.build_training_set("default")      # data/default/datasets/train_decorrelated.h5
    folder = dec.train("default")                 # data/default/models/decorrelated_censored
    out = dec.run_study("default")                # numbers; results/DecorrelatedTraining.json

``benchmarks/decorrelated_training.py`` runs the whole study with one command.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from astronn_paper import apogee, cache, config
from astronn_paper.synth.source import SyntheticSource, generator_fingerprint
from astronn_paper.synth import catalog as _catalog

#: Folder (under the profile's models directory) of the decorrelated censored network.
MODEL_VARIANT = "decorrelated_censored"
#: Name of the decorrelated training set (under the profile's datasets directory).
DATASET_NAME = "train_decorrelated"
#: Name of the results file (``<data>/<profile>/results/<name>.json``).
RESULTS_NAME = "DecorrelatedTraining"
#: The standard (shipped) censored network the study compares with.
STANDARD_MODEL = "astroNN_0617_run001"


class DecorrelatedSource(SyntheticSource):
    """The synthetic survey whose field labels around the training box are decorrelated.

    Same rows, positions, clusters, SNRs, visits, forward model, instrument and label-noise
    model as :class:`~astronn_paper.synth.source.SyntheticSource` of the same seed; only
    the true labels of the shuffled field stars differ (see
    :func:`astronn_paper.synth.population.decorrelate_labels`).
    """

    @property
    def catalog(self) -> _catalog.Catalog:
        return _catalog.cached_catalog(self.seed, decorrelated=True)

    def fingerprint(self) -> str:
        return cache.fingerprint(["decorrelated", generator_fingerprint(self.seed)])

    def spec(self) -> dict:
        return {"factory": f"{__name__}:DecorrelatedSource", "kwargs": {"seed": self.seed}}

    def __repr__(self) -> str:
        return f"DecorrelatedSource(seed={self.seed})"


def source(profile=None) -> DecorrelatedSource:
    """The decorrelated survey of the profile's survey seed."""
    return DecorrelatedSource(seed=config.get_profile(profile).survey_seed)


def training_selection(profile=None):
    """The profile's standard training selection (same cuts, size and seed), renamed; the
    visits are not compiled (training reads only the combined spectra)."""
    from astronn_paper import dataset

    sel = dataset.standard_selections(profile)["train"]
    return dataclasses.replace(sel, name=DATASET_NAME, visits=False)


def dataset_path(profile=None) -> Path:
    return config.datasets_dir(profile) / f"{DATASET_NAME}.h5"


def model_path(profile=None) -> Path:
    return config.models_dir(profile) / MODEL_VARIANT


def build_training_set(profile=None, force: bool = False, workers: int | None = None,
                       progress: bool = True) -> Path:
    """Compile the decorrelated training set with the normal dataset code (reused when its
    recorded input fingerprint matches)."""
    from astronn_paper import dataset

    src = source(profile)
    sel = training_selection(profile)
    path = dataset_path(profile)
    if not force and path.is_file() and \
            dataset.info(path).get("input_fingerprint") == dataset.input_fingerprint(src, sel):
        return path
    dataset.compile_dataset(src, sel, path, workers=workers, progress=progress, profile=profile)
    return path


#: A continuum-normalised spectrum whose flux exceeds this anywhere (the standard training
#: set's maximum over its 8,000 x 7,514 pixels is 1.40) or with a negative or non-finite
#: error is a failed normalisation, not a star: such stars are left out of the training.
FLUX_MAX = 2.0


def invalid_spectra(x: np.ndarray, x_err: np.ndarray) -> np.ndarray:
    """Rows (stars) whose normalised spectrum is not usable: flux above :data:`FLUX_MAX` or
    not finite anywhere, or an error below zero or not finite anywhere."""
    x, x_err = np.asarray(x), np.asarray(x_err)
    with np.errstate(invalid="ignore"):
        bad = ~np.all(np.isfinite(x) & (x <= FLUX_MAX), axis=1)
        bad |= ~np.all(np.isfinite(x_err) & (x_err >= 0), axis=1)
    return bad


def clean_path(profile=None) -> Path:
    return config.datasets_dir(profile) / f"{DATASET_NAME}_valid.h5"


def clean_training_set(path, out) -> dict:
    """Copy the combined group of a compiled training set to ``out`` without the stars of
    :func:`invalid_spectra` (atomic; the file keeps the original attributes and records
    the removed stars under ``excluded``). Returns ``{"n_in", "n_out", "excluded"}``."""
    import json

    from astronn_paper import dataset
    from astronn_paper.dataset import store

    path, out = Path(path), Path(out)
    x, _, xe, _, cols = dataset.load(path, columns=["allstar_index", "APOGEE_ID"])
    bad = invalid_spectra(x, xe)
    keep = ~bad
    excluded = [{"row": int(r), "allstar_index": int(cols["allstar_index"][r]),
                 "apogee_id": str(cols["APOGEE_ID"][r]), "flux_max": float(np.nanmax(x[r])),
                 "err_min": float(np.nanmin(xe[r]))} for r in np.flatnonzero(bad)]
    del x, xe
    store.write_subset(path, out, keep, {"excluded": json.dumps({
        "reason": f"failed normalisation (flux > {FLUX_MAX} or negative error)",
        "source_file": config.shown_path(path), "source_fingerprint": store.fingerprint(path),
        "flux_max": FLUX_MAX, "stars": excluded})})
    return {"n_in": len(bad), "n_out": int(keep.sum()), "excluded": excluded}


def train(profile=None, force: bool = False) -> Path:
    """Train the censored network on the decorrelated set with the paper's settings (the
    same seed as the standard network of the profile), reused when already trained on this
    very dataset."""
    from astronn_paper.model import train as tr

    compiled = build_training_set(profile)
    ds = clean_path(profile)
    from astronn_paper import dataset

    done = _excluded(ds) if ds.is_file() else {}
    if force or done.get("source_fingerprint") != dataset.fingerprint(compiled) or \
            done.get("flux_max", FLUX_MAX) != FLUX_MAX:
        clean_training_set(compiled, ds)
    out = model_path(profile)
    p = config.get_profile(profile)
    prov = tr.read_provenance(out)
    if not force and (out / "model_weights.h5").is_file() and \
            prov.get("dataset_fingerprint") == dataset.fingerprint(ds) and \
            prov.get("network", {}).get("epochs") == p.epochs and not tr.training_diverged(out):
        return out
    return tr.train_network("censored", ds, out, p,
                            extra_provenance={"study": "decorrelated training (issue 20)",
                                              "survey": "DecorrelatedSource"})


def _excluded(path) -> dict:
    import json

    from astronn_paper.dataset import store

    v = store.info(path).get("excluded")
    return json.loads(v) if v is not None else {}


# =========================================================================== the training sets
def label_correlations(labels: np.ndarray, targets=apogee.TARGETS) -> dict:
    """How correlated a set of true labels is ((N, 22) in ``targets`` order): Pearson
    correlation of Teff and log g, of [Mg/Fe] and [Al/Fe], of [Al/Fe] and [Fe/H], the median
    |correlation| over all pairs of the 19 [X/Fe] (C1 and Ti2 excluded, they equal C and Ti)
    and over the [X/Fe]-[Fe/H] pairs, and the standard deviations of log g, [Mg/Fe] and
    [Al/Fe]."""
    y = np.asarray(labels, float)
    t = list(targets)
    ok = np.all(np.isfinite(y) & (y != apogee.MISSING), axis=1)
    y = y[ok]
    feh = y[:, t.index("Fe")]
    els = [e for e in apogee.ABUNDANCES if e not in ("Fe", "C1", "Ti2")]
    xfe = np.column_stack([y[:, t.index(e)] - feh for e in els])
    c = np.corrcoef(xfe, rowvar=False)
    iu = np.triu_indices(len(els), 1)
    mg, al = xfe[:, els.index("Mg")], xfe[:, els.index("Al")]
    return {
        "n": len(y),
        "corr_teff_logg": float(np.corrcoef(y[:, t.index("teff")], y[:, t.index("logg")])[0, 1]),
        "corr_mgfe_alfe": float(np.corrcoef(mg, al)[0, 1]),
        "corr_alfe_feh": float(np.corrcoef(al, feh)[0, 1]),
        "median_abs_corr_xfe_pairs": float(np.median(np.abs(c[iu]))),
        "median_abs_corr_xfe_feh": float(np.median(
            [abs(np.corrcoef(xfe[:, k], feh)[0, 1]) for k in range(len(els))])),
        "std_logg": float(np.std(y[:, t.index("logg")])),
        "std_mgfe": float(np.std(mg)), "std_alfe": float(np.std(al)),
    }


def training_set_summary(path) -> dict:
    """:func:`label_correlations` of the true labels of a compiled training set."""
    from astronn_paper import dataset

    return label_correlations(dataset.load_columns(path, ["truth"], "combined")["truth"])


# =========================================================================== the comparison
def _model_summary(folder) -> dict:
    from astronn_paper.model import train as tr

    prov = tr.read_provenance(folder)
    out = {"folder": config.shown_path(folder), "n_train": prov.get("n_train"),
           "n_validation": prov.get("n_validation"),
           "epochs": (prov.get("network") or {}).get("epochs"),
           "training_wall_time_s": prov.get("training_wall_time_s"),
           "dataset": prov.get("dataset")}
    try:
        hist = tr.training_history(folder)
        out["final_val_loss"] = float(hist["val_loss"].iloc[-1])
        # normalised labels: the validation MAE is in units of each label's training std
        out["final_val_mae_normalised"] = float(hist["val_output_mean_absolute_error"].iloc[-1])
    except (FileNotFoundError, KeyError, IndexError):
        pass
    return out


def self_responses(folders: dict, profile=None, n_stars: int | None = None,
                   snrs=None) -> dict:
    """Self-response R[i, i] (and error, and the response to the population direction) of
    each network at each SNR, from :func:`astronn_paper.analysis.response.response_table`
    (cached CSVs under ``results/``). Returns ``{name: {snr: DataFrame}}`` and the wall
    times."""
    from astronn_paper.analysis import response

    snrs = tuple(response.DEFAULT_SNRS if snrs is None else snrs)
    out, walls = {}, {}
    for name, folder in folders.items():
        t0 = time.time()
        table = response.response_table(folder, profile, n_stars=n_stars, snrs=snrs)
        walls[name] = {"this_call_s": round(time.time() - t0, 1),
                       "measured_wall_s": table.attrs.get("wall_s"),
                       "n_stars": table.attrs.get("n_stars")}
        out[name] = {float(s): response.self_response(table, s) for s in snrs}
    return out, walls


def m13_comparison(folders: dict, profile=None, source=None) -> dict:
    """M13 through the cluster benchmark (:func:`.clusters.run_benchmark`) for each network:
    [Al/Fe] spread (mad_std) and the fraction of the true spread recovered, [Mg/Fe] spread,
    Spearman Mg-Al correlation, beside the ASPCAP-like labels and the truth."""
    from astronn_paper.analysis import clusters
    from astronn_paper.synth.source import SyntheticSource

    p = config.get_profile(profile)
    source = SyntheticSource(seed=p.survey_seed) if source is None else source
    res = clusters.run_benchmark(p, source=source, clusters=(clusters.GLOBULAR,),
                                 model_folders=dict(folders))[clusters.GLOBULAR]
    g = clusters.globular_summary(res)
    true = g["al_fe_spread"].get("truth")
    g["al_fe_spread_recovered"] = {
        k: (None if g["al_fe_spread"].get(k) is None or not true else
            round(g["al_fe_spread"][k] / true, 4)) for k in folders}
    return g


def field_precision(folders: dict, test_path, profile=None) -> dict:
    """Bias and scatter (mad_std) against the truth of each network on the combined spectra
    of a test set (:func:`.scoring.score`), per label, with the ASPCAP-like labels' own
    scatter about the truth beside them."""
    from astronn_paper.analysis import scoring

    out = {}
    for name, folder in folders.items():
        tab = scoring.score(name, folder, test_path, profile).table
        out[name] = {"scatter_truth": tab["scatter_truth"].to_dict(),
                     "bias_truth": tab["bias_truth"].to_dict()}
        out.setdefault("aspcap_scatter_truth", tab["aspcap_scatter_truth"].to_dict())
    return out


def _median_over(d: dict, keys) -> float:
    v = [d[k] for k in keys if d.get(k) is not None and np.isfinite(d[k])]
    return float(np.median(v)) if v else float("nan")


def summarise(study: dict) -> dict:
    """The headline numbers of a study dict (see :func:`run_study`): per network, the median
    self-response over the 20 abundances at each SNR, R_Al,Al, the Al spread recovered in
    M13, the Mg-Al correlation, the median field scatter over the abundances, the number of
    abundances within 0.05 dex of the truth, and the Teff / log g scatters."""
    ab = list(apogee.ABUNDANCES)
    out = {}
    for name in study["models"]:
        s = {}
        for snr, sr in study["self_response"].get(name, {}).items():
            s[f"median_self_response_abundances_snr{snr:g}"] = _median_over(sr["self"], ab)
            s[f"self_response_Al_snr{snr:g}"] = sr["self"].get("Al")
            s[f"self_response_logg_snr{snr:g}"] = sr["self"].get("logg")
            s[f"self_response_Mg_snr{snr:g}"] = sr["self"].get("Mg")
        m13 = study.get("m13", {})
        s["m13_al_fe_spread"] = m13.get("al_fe_spread", {}).get(name)
        s["m13_al_fe_spread_recovered"] = m13.get("al_fe_spread_recovered", {}).get(name)
        s["m13_rho_mg_al"] = m13.get("rho_mg_al", {}).get(name)
        fp = study.get("field_precision", {}).get(name)
        if fp:
            sc = fp["scatter_truth"]
            s["median_scatter_truth_abundances"] = _median_over(sc, ab)
            s["n_abundances_within_0.05"] = int(sum(sc.get(e) is not None and sc[e] <= 0.05
                                                    for e in ab))
            s["scatter_truth_teff"], s["scatter_truth_logg"] = sc.get("teff"), sc.get("logg")
            s["scatter_truth_Al"], s["scatter_truth_Mg"] = sc.get("Al"), sc.get("Mg")
        out[name] = s
    return out


#: A rise of the median abundance self-response larger than this counts as a gain.
SELF_RESPONSE_GAIN = 0.03
#: A median field scatter larger by this factor counts as a loss of precision.
FIELD_SCATTER_LOSS = 1.05


def trade_off(summary: dict, a: str = "standard", b: str = "decorrelated") -> str:
    """The trade-off the study shows, in one paragraph, read off the numbers (whichever way
    they go)."""
    sa, sb = summary[a], summary[b]
    parts = []
    keys = sorted(k for k in sa if k.startswith("median_self_response_abundances_snr"))
    for k in keys:
        snr = k.rsplit("snr", 1)[1]
        parts.append(f"median abundance self-response at SNR {snr}: {sa[k]:.2f} -> {sb[k]:.2f}")
        al = f"self_response_Al_snr{snr}"
        if sa.get(al) is not None and sb.get(al) is not None:
            parts.append(f"R_Al,Al at SNR {snr}: {sa[al]:.2f} -> {sb[al]:.2f}")
    if sa.get("m13_al_fe_spread_recovered") is not None and sb.get("m13_al_fe_spread_recovered") is not None:
        parts.append(f"M13 [Al/Fe] spread recovered: {100 * sa['m13_al_fe_spread_recovered']:.0f} % -> "
                     f"{100 * sb['m13_al_fe_spread_recovered']:.0f} %")
    if sa.get("m13_rho_mg_al") is not None and sb.get("m13_rho_mg_al") is not None:
        parts.append(f"M13 Mg-Al Spearman rho: {sa['m13_rho_mg_al']:+.2f} -> {sb['m13_rho_mg_al']:+.2f}")
    if "median_scatter_truth_abundances" in sa and "median_scatter_truth_abundances" in sb:
        ma, mb = sa["median_scatter_truth_abundances"], sb["median_scatter_truth_abundances"]
        parts.append(f"median field scatter about the truth over the 20 abundances: {ma:.3f} -> "
                     f"{mb:.3f} dex ({mb / ma:.2f}x); abundances within 0.05 dex: "
                     f"{sa['n_abundances_within_0.05']} -> {sb['n_abundances_within_0.05']} of 20")
        parts.append(f"log g scatter: {sa['scatter_truth_logg']:.3f} -> {sb['scatter_truth_logg']:.3f} dex")
    gain = [sb[k] - sa[k] for k in keys]
    more_own = bool(gain) and np.median(gain) > SELF_RESPONSE_GAIN
    worse_field = (sb.get("median_scatter_truth_abundances", 0)
                   > FIELD_SCATTER_LOSS * sa.get("median_scatter_truth_abundances", np.inf))
    ra, rb = sa.get("m13_al_fe_spread_recovered"), sb.get("m13_al_fe_spread_recovered")
    m13_up = ra is not None and rb is not None and rb > ra * 1.1
    m13_down = ra is not None and rb is not None and rb < ra / 1.1
    verdict = []
    if more_own:
        verdict.append("Without the population's correlations to lean on, the network reads more "
                       "of each element from its own lines (larger self-responses of the disc "
                       "giants of the response test)")
    else:
        verdict.append("Decorrelating the training labels did not raise the median self-response")
    if m13_up:
        verdict.append("and recovers more of M13's Al spread")
    elif m13_down:
        verdict.append("but M13's Al spread is recovered less, not more (the gain is measured on "
                       "disc giants; M13's giants are metal-poor, with weak Al lines, and their "
                       "[Al/Fe] spread is several times the training set's)")
    else:
        verdict.append("but M13's recovered Al spread barely changes")
    if worse_field:
        verdict.append("; the price is field precision: on the standard survey the correlations "
                       "are real information, which a correlated training set lets the network "
                       "use as a prior, so the standard network's field abundances (and log g) "
                       "are closer to the truth")
    else:
        verdict.append("; field precision is not worse")
    verdict = "Trade-off: " + " ".join(verdict).replace(" ;", ";") + "."
    return "; ".join(parts) + ". " + verdict


def _trained_on(folder, default) -> Path:
    """The dataset a model folder's provenance names (``default`` when unreadable)."""
    from astronn_paper.model import train as tr

    d = tr.read_provenance(folder).get("dataset")
    return Path(d) if d and Path(d).is_file() else Path(default)


def run_study(profile=None, timings: dict | None = None, response_stars: int | None = None,
              write: bool = True, standard_model=None) -> dict:
    """The whole comparison of the standard (shipped) and the decorrelated censored networks
    (both must exist: see :func:`train`); written to ``results/DecorrelatedTraining.json``
    with :func:`astronn_paper.analysis.results.write` when ``write``."""
    from astronn_paper import dataset
    from astronn_paper.analysis import results

    p = config.get_profile(profile)
    std = Path(standard_model) if standard_model is not None else config.shipped_model_dir(STANDARD_MODEL)
    dec = model_path(p)
    for f in (std, dec):
        if not (Path(f) / "model_weights.h5").is_file():
            raise FileNotFoundError(f"no trained network in {f}: run "
                                    "benchmarks/decorrelated_training.py --stage train first")
    folders = {"standard": std, "decorrelated": dec}
    test_path = dataset.standard_path("test", p)
    if not Path(test_path).is_file():
        raise FileNotFoundError(f"no standard high-SNR test set at {test_path}: build it with "
                                "`python -m astronn_paper dataset` first")
    timings = dict(timings or {})
    study = {"profile": p.name, "models": {k: _model_summary(v) for k, v in folders.items()},
             "test_set": config.shown_path(test_path)}
    study["training_sets"] = {"standard": training_set_summary(dataset.standard_path("train", p)),
                              "decorrelated": training_set_summary(_trained_on(dec, clean_path(p)))}
    trained_on = _trained_on(dec, clean_path(p))
    study["training_sets"]["decorrelated_file"] = config.shown_path(trained_on)
    study["training_sets"]["decorrelated_excluded"] = _excluded(trained_on)
    # cheapest first, each printed as soon as known (the response test takes longest)
    t0 = time.time()
    study["m13"] = m13_comparison(folders, p)
    timings["m13_s"] = round(time.time() - t0, 1)
    print(f"M13 ({timings['m13_s']} s): [Al/Fe] spread " + ", ".join(
        f"{k} {v:.3f}" for k, v in study["m13"].get("al_fe_spread", {}).items() if v is not None), flush=True)
    t0 = time.time()
    study["field_precision"] = field_precision(folders, test_path, p)
    timings["field_precision_s"] = round(time.time() - t0, 1)
    print(f"field precision ({timings['field_precision_s']} s): median scatter about the truth over the labels "
          + ", ".join(f"{k} {np.nanmedian(list(v['scatter_truth'].values())):.3f}"
                      for k, v in study["field_precision"].items()
                      if isinstance(v, dict) and isinstance(v.get("scatter_truth"), dict)), flush=True)
    t0 = time.time()
    sr, walls = self_responses(folders, p, n_stars=response_stars)
    study["self_response"] = {name: {s: df.to_dict() for s, df in by_snr.items()}
                              for name, by_snr in sr.items()}
    timings["response"] = walls
    timings["response_total_s"] = round(time.time() - t0, 1)
    t0 = time.time()
    study["m13_member_self_response"] = cluster_self_response(folders, profile=p,
                                                              snrs=tuple(sorted(study["self_response"]["standard"], reverse=True)))
    timings["m13_member_response_s"] = round(time.time() - t0, 1)
    inj = study["m13"].get("al_fe_spread", {}).get("truth")
    if inj:
        from astronn_paper.analysis import response

        study["m13"]["al_fe_spread_from_self_response"] = {
            name: {f"{s:g}": list(response.predicted_spread(
                df.loc["Al", "self"], df.loc["Al", "self_err"], inj)) for s, df in by_snr.items()}
            for name, by_snr in sr.items()}
    study["summary"] = summarise(study)
    study["trade_off"] = trade_off(study["summary"])
    study["timings"] = timings
    if write:
        study["results_file"] = config.shown_path(results.write(RESULTS_NAME, study, p))
    return study


def format_report(study: dict) -> str:
    """A plain-text report of a study dict (what the benchmark prints)."""
    lines = [f"decorrelated-training study, profile {study['profile']}"]
    for name, m in study["models"].items():
        lines.append(f"  {name:13s} {m['folder']}: n_train {m.get('n_train')}, "
                     f"val {m.get('n_validation')}, epochs {m.get('epochs')}, "
                     f"training {m.get('training_wall_time_s')} s")
    for name in ("standard", "decorrelated"):
        ts = study.get("training_sets", {}).get(name)
        if not ts:
            continue
        lines.append(f"  training set {name:13s} corr(Teff,logg) {ts['corr_teff_logg']:+.2f}, "
                     f"corr([Mg/Fe],[Al/Fe]) {ts['corr_mgfe_alfe']:+.2f}, corr([Al/Fe],[Fe/H]) "
                     f"{ts['corr_alfe_feh']:+.2f}, median|corr| [X/Fe] pairs "
                     f"{ts['median_abs_corr_xfe_pairs']:.2f}, sd [Al/Fe] {ts['std_alfe']:.3f}")
    snrs = sorted({s for v in study["self_response"].values() for s in v}, key=float, reverse=True)
    for snr in snrs:
        lines.append(f"  self-response R[i,i] at SNR {float(snr):g} (standard / decorrelated):")
        sa = study["self_response"]["standard"][snr]["self"]
        sb = study["self_response"]["decorrelated"][snr]["self"]
        ea = study["self_response"]["standard"][snr]["self_err"]
        eb = study["self_response"]["decorrelated"][snr]["self_err"]
        lines.append("    " + ", ".join(f"{k} {sa[k]:.2f}±{ea[k]:.2f} / {sb[k]:.2f}±{eb[k]:.2f}"
                                        for k in sa))
    m = study["m13"]
    lines.append("  M13 [Al/Fe] spread: " + ", ".join(f"{k} {v:.3f}" for k, v in m["al_fe_spread"].items()
                                                     if v is not None))
    lines.append("  M13 Al spread recovered: " + ", ".join(
        f"{k} {100 * v:.0f} %" for k, v in m["al_fe_spread_recovered"].items() if v is not None))
    lines.append("  M13 Mg-Al Spearman rho: " + ", ".join(f"{k} {v:+.2f}" for k, v in m["rho_mg_al"].items()
                                                         if v is not None))
    mr = study.get("m13_member_self_response")
    if mr:
        lines.append(f"  self-response on M13's own {mr['n_stars']} members (standard / decorrelated): " + "; ".join(
            f"SNR {snr} " + ", ".join(f"{lab} {mr['standard'][snr][lab][0]:.2f}±{mr['standard'][snr][lab][1]:.2f}"
                                      f" / {mr['decorrelated'][snr][lab][0]:.2f}±{mr['decorrelated'][snr][lab][1]:.2f}"
                                      for lab in mr["standard"][snr] if lab != "n_good")
            for snr in mr["standard"] if snr != "n_stars"))
    fp = study["field_precision"]
    lines.append("  field scatter about the truth (standard / decorrelated / ASPCAP-like labels):")
    lines.append("    " + ", ".join(
        f"{k} {fp['standard']['scatter_truth'][k]:.3f}/{fp['decorrelated']['scatter_truth'][k]:.3f}/"
        f"{fp['aspcap_scatter_truth'][k]:.3f}" for k in fp["standard"]["scatter_truth"]))
    lines.append("  " + study["trade_off"])
    return "\n".join(lines)


# =========================================================================== M13's own response
def cluster_self_response(folders: dict, cluster: str = "M13", snrs=(200.0,), labels=("Al", "Mg"),
                          profile=None, seed: int | None = None) -> dict:
    """The element response test (:func:`.response.run`) on the members of one cluster of the
    standard survey itself (field-star test stars are disc giants; M13's are metal-poor):
    ``{name: {snr: {label: [R, R_err]}}}`` for the single-label directions ``labels``, with
    each member's own labels, noise draw and the engine's MC dropout (the response test's
    MC passes)."""
    from astronn_paper.analysis import response
    from astronn_paper.model import engine
    from astronn_paper.synth import population as popmod

    p = config.get_profile(profile)
    src = SyntheticSource(seed=p.survey_seed, cache_spectra=0)
    pop = src.catalog.population
    k = [c.name for c in popmod.CLUSTERS].index(cluster)
    rows = np.flatnonzero((pop.cluster == k) & (pop.dup_rank == 0) & (src.allstar()["STARFLAG"] == 0))
    stars = response.Stars(rows, response.true_labels(pop, rows), pop.vmicro[rows].astype(np.float64))
    seed = config.seed_for(f"response:{cluster}", p) if seed is None else int(seed)
    dirs = [d for d in response.directions(population=False, pairs=False) if d.name in labels]
    out = {"n_stars": len(rows)}
    for name, folder in folders.items():
        model = engine.load_model(folder)
        res = response.run(response.engine_predictor(model, seed=seed),
                           response.SurveyForward(src, stars), stars.labels, snrs, dirs=dirs,
                           outputs=tuple(model.targetname), seed=seed)
        out[name] = {}
        for r in res:
            o = list(r.outputs)
            out[name][f"{r.snr:g}"] = {c: [float(r.matrix[o.index(c), j]), float(r.error[o.index(c), j])]
                                       for j, c in enumerate(r.changed)}
            out[name][f"{r.snr:g}"]["n_good"] = int(r.n_good)
    return out


def committed_results_path(profile=None) -> Path:
    """The study's results as committed with the repository for a profile
    (``benchmarks/results/DecorrelatedTraining.<profile>.json``, beside the benchmark that
    writes them), so that a clone's notebooks show them without the ~25 min of training."""
    return config.repo_root() / "benchmarks" / "results" / f"{RESULTS_NAME}.{config.get_profile(profile).name}.json"


def stored_study(profile=None) -> dict | None:
    """The study's numbers for this profile: as the benchmark last wrote them here
    (``benchmarks/decorrelated_training.py``), else as committed with the repository
    (:func:`committed_results_path`), else None."""
    import json

    from astronn_paper.analysis import results

    try:
        return results.read(RESULTS_NAME, profile)
    except FileNotFoundError:
        pass
    committed = committed_results_path(profile)
    return json.loads(committed.read_text())["results"] if committed.is_file() else None
