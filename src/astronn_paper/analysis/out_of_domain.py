"""The out-of-domain demonstrations: synthetic-survey stars rendered with deliberately
different physics (:data:`VARIANTS`), normalised as in the paper and scored with a
model folder's domain model (:mod:`astronn_paper.model.domain`), beside what the network's
MC-dropout uncertainty alone says about them (:func:`ood_table`); and the flag's false alarms
and detections per SNR bin on a survey of another seed (:func:`snr_study`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import apogee
from astronn_paper.model.domain import DomainError, DomainModel

#: Spectra rendered with deliberately different physics (the out-of-domain demonstration),
#: each applied to stars of the standard high-SNR test set; "in_domain" is
#: the unchanged forward model (it reproduces the test set's spectra exactly).
VARIANTS = {
    "in_domain": "the forward model of the training set",
    "lsf_1.5x": "line-spread function 1.5x broader",
    "lines_shift_1px": "every line shifted by one pixel (redward)",
    "molecules_1.3x": "CO, CN and OH opacities 30 % stronger",
    "no_molecules": "no CO, CN or OH lines",
    "teff_7000K": "a 7000 K star (main-sequence logg)",
    "dwarf_3300K": "a 3300 K dwarf (main-sequence logg)",
    "observed_frame_60kms": "left in the observed frame at 60 km/s (not shifted to rest)",
}


def variant_labels(variant: str, teff, logg, vmicro, feh):
    """(teff, logg, vmicro) of a variant (changed only by the two temperature variants)."""
    from astronn_paper.synth.population import ms_logg, vmicro_of

    if variant in ("teff_7000K", "dwarf_3300K"):
        t = np.full(np.shape(teff), 7000.0 if variant == "teff_7000K" else 3300.0)
        g = ms_logg(t, feh)
        return t, g, vmicro_of(g)
    return np.asarray(teff, float), np.asarray(logg, float), np.asarray(vmicro, float)


def variant_apstars(variant: str, allstar_index, survey_seed: int | None = None, snr=None):
    """apStar arrays (:class:`~astronn_paper.survey.source.ApStar`, with the star's own
    header) of synthetic-survey stars rendered with a physics variant, and their (teff, logg).

    The stars' true labels and visit SNRs come from the synthetic survey
    (:class:`~astronn_paper.synth.source.SyntheticSource`); the intrinsic spectrum is
    :func:`astronn_paper.synth.spectra.render` with the variant's change, then
    :func:`astronn_paper.synth.instrument.observe` with the star's own random generator, as
    ``SyntheticSource.apstar`` does (``"in_domain"`` gives exactly the survey's apStar).
    ``snr`` (a number or one per star) observes the stars at that total SNR instead of their
    own (the noise re-drawn from the noiseless spectrum; the header's SNR says so).
    """
    from astronn_paper import config
    from astronn_paper.synth.source import SyntheticSource
    from astronn_paper.synth import spectra

    if variant not in VARIANTS:
        raise DomainError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    seed = config.get_profile(None).survey_seed if survey_seed is None else int(survey_seed)
    src = SyntheticSource(seed, cache_spectra=0)
    pop = src.catalog.population
    idx = np.atleast_1d(np.asarray(allstar_index, dtype=np.int64))
    snrs = [None] * len(idx) if snr is None else np.broadcast_to(np.asarray(snr, float), idx.shape)
    teff, logg, vmic = variant_labels(variant, pop.teff[idx], pop.logg[idx], pop.vmicro[idx],
                                      pop.feh[idx])
    kw = {"lsf_1.5x": {"lsf_scale": 1.5},
          "lines_shift_1px": {"shift_pix": 1.0},
          "molecules_1.3x": {"species_scale": spectra.species_scale(molecules=1.3)},
          "no_molecules": {"species_scale": spectra.species_scale(molecules=0.0)},
          "observed_frame_60kms": {"rv_kms": 60.0}}.get(variant, {})
    intrinsic = spectra.render(teff, logg, pop.xh20[idx], vmic, **kw)
    stars = [src.observe(int(i), intrinsic[k], teff=float(teff[k]),
                         snr=None if snrs[k] is None else float(snrs[k])) for k, i in enumerate(idx)]
    for k, s in enumerate(stars):
        s.header["VARIANT"] = variant
        if snrs[k] is not None:
            s.header["SNR"] = float(snrs[k])
    return stars, teff, logg


def render_variant(variant: str, allstar_index, survey_seed: int | None = None, snr=None,
                   keep_rejected: bool = False) -> dict:
    """Normalised combined spectra of synthetic-survey stars rendered with a physics variant
    (:func:`variant_apstars`, observed at their own SNR or at ``snr``, then the paper's continuum
    normalisation, :func:`astronn_paper.survey.normalise.normalise_batch`, of the combined row).
    Returns ``{"x", "x_err", "allstar_index", "snr", "teff", "logg", "rejected"}`` of the stars
    that normalise; the others are dropped and counted in ``"n_bad"``. Spectra whose
    normalisation *failed* (reason ``failed_normalisation``: compile and ``predict`` reject
    them before the network) are dropped too, unless ``keep_rejected``: then they are kept,
    normalised all the same (:func:`~astronn_paper.survey.normalise.continuum`), and marked in
    ``"rejected"``.
    """
    from astronn_paper.survey import normalise

    stars, teff, logg = variant_apstars(variant, allstar_index, survey_seed, snr=snr)
    idx = np.atleast_1d(np.asarray(allstar_index, dtype=np.int64))
    f, e, m = (np.array(a) for a in zip(*(s.combined() for s in stars)))
    norm = normalise.normalise_batch(f, e, m)
    keep = norm.good.copy()
    spec = np.empty((len(idx), apogee.N_PIX_GAP_DELETED), np.float32)
    err = np.empty_like(spec)
    spec[norm.good], err[norm.good] = norm.spec, norm.err
    redo = np.array(sorted(k for k, p in norm.errors.items() if p.reason == "failed_normalisation"), np.int64)
    if keep_rejected and redo.size:
        spec[redo], err[redo] = normalise.continuum(f[redo], e[redo], m[redo])
        keep[redo] = True
    rejected = np.zeros(len(idx), bool)
    rejected[redo] = True
    snr_out = np.array([float(s.header["SNR"]) for s in stars])
    return {"x": spec[keep], "x_err": err[keep], "allstar_index": idx[keep], "snr": snr_out[keep],
            "teff": teff[keep], "logg": logg[keep], "rejected": rejected[keep],
            "n_bad": int((~keep).sum())}


@dataclass
class OODResult:
    """What :func:`ood_table` measured: the table, and the scores behind it (for figures)."""

    table: object                       # astropy Table, one row per variant
    scores: dict                          # variant -> (n,) DOMAIN_SCORE
    test_scores: np.ndarray               # DOMAIN_SCORE of the whole high-SNR test set
    threshold: float
    sigma: dict = field(default_factory=dict)   # variant -> (n,) normalised MC-dropout sigma
    sigma_threshold: float = float("nan")


def _sigma_summary(total: np.ndarray, ref_median: np.ndarray) -> np.ndarray:
    """One number per spectrum: the median over labels of σ / (in-domain median σ)."""
    return np.median(total / ref_median[None, :], axis=1)


def ood_table(model_folder=None, n_per_class: int = 200, mc: int = 40, profile=None,
              variants=tuple(VARIANTS), test_path=None, with_sigma: bool = True,
              domain_model: DomainModel | None = None, progress: bool = False) -> OODResult:
    """The out-of-domain demonstration, as a table.

    ``n_per_class`` stars drawn (seeded) from the standard high-SNR test set (SNR 100-200)
    are rendered with each physics variant (:data:`VARIANTS`, :func:`render_variant`),
    normalised as in the paper and scored with the model folder's domain model. Columns:
    ``variant``, ``description``, ``n``, ``rejected`` (fraction whose normalisation failed:
    compile and ``predict`` reject them before the network; they are scored all the same),
    ``flagged`` (fraction with DOMAIN_SCORE above the threshold), ``median_score``; with
    ``with_sigma``, from the shipped network's MC dropout (``mc`` passes): ``sigma_flagged``
    (fraction whose normalised σ - the median over the 22 labels of σ_total divided by its
    in-domain median - exceeds the in-domain 98th percentile), ``sigma_teff_flagged`` and
    ``sigma_fe_flagged`` (the same for σ(Teff) and σ([Fe/H]) alone), ``median_sigma_ratio``,
    and the median change of the predicted Teff, logg, [C/H], [N/H], [O/H], [Fe/H] against
    the same stars in domain.
    """
    from astropy.table import Table

    from astronn_paper import config, dataset

    prof = config.get_profile(profile)
    folder = Path(model_folder) if model_folder else config.shipped_model_dir()
    dom = domain_model if domain_model is not None else DomainModel.load_for(folder)
    test_path = Path(test_path) if test_path else config.datasets_dir(prof) / "test.h5"
    if not test_path.is_file():
        raise DomainError(f"dataset {test_path} does not exist (compile it first)")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise DomainError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    variants = ["in_domain"] + [v for v in variants if v != "in_domain"]
    xt, _, xt_err, _, cols = dataset.load(test_path, kind="combined", columns=["allstar_index"])
    test_scores = dom.score(xt, xt_err)
    rng = np.random.default_rng(config.seed_for("domain:ood-stars", prof))
    n = min(int(n_per_class), len(xt))
    rows = np.sort(rng.choice(len(xt), n, replace=False))
    del xt, xt_err
    scores, sigma, preds, rendered = {}, {}, {}, {}
    for v in variants:
        r = render_variant(v, cols["allstar_index"][rows], survey_seed=prof.survey_seed, keep_rejected=True)
        rendered[v] = r
        scores[v] = dom.score(r["x"], r["x_err"])
        if with_sigma:
            from astronn_paper.model import engine

            preds[v] = engine.predict(folder, r["x"], r["x_err"], mc=mc,
                                      seed=config.seed_for("domain:ood-mc", prof), progress=progress)
    rows_out = []
    sig_thr = float("nan")
    if with_sigma:
        ref = preds["in_domain"]
        ref_med = np.median(ref.total, axis=0)
        for v in variants:
            sigma[v] = _sigma_summary(preds[v].total, ref_med)
        sig_thr = float(np.quantile(sigma["in_domain"], 0.98))
        j_t, j_fe = ref.targetname.index("teff"), ref.targetname.index("Fe")
        thr_t = np.quantile(ref.total[:, j_t], 0.98)
        thr_fe = np.quantile(ref.total[:, j_fe], 0.98)
    ids_in = rendered["in_domain"]["allstar_index"]
    for v in variants:
        row = {"variant": v, "description": VARIANTS[v], "n": int(scores[v].size),
               "rejected": float(np.mean(rendered[v]["rejected"])),
               "flagged": float(np.mean(dom.flag(score=scores[v]))),
               "median_score": float(np.median(scores[v]))}
        if with_sigma:
            p = preds[v]
            row.update({"sigma_flagged": float(np.mean(sigma[v] > sig_thr)),
                        "sigma_teff_flagged": float(np.mean(p.total[:, j_t] > thr_t)),
                        "sigma_fe_flagged": float(np.mean(p.total[:, j_fe] > thr_fe)),
                        "median_sigma_ratio": float(np.median(sigma[v]))})
            # the same stars in domain (a variant may lose stars that fail normalisation)
            _, a, b = np.intersect1d(rendered[v]["allstar_index"], ids_in, return_indices=True)
            for lab in ("teff", "logg", "C", "N", "O", "Fe"):
                j = ref.targetname.index(lab)
                row[f"d_{lab}"] = float(np.median(p.mean[a, j] - preds["in_domain"].mean[b, j]))
        rows_out.append(row)
    table = Table(rows=rows_out)
    table.meta.update({"threshold": dom.threshold, "test_flagged": float(np.mean(dom.flag(score=test_scores))),
                       "n_test": int(test_scores.size), "mc": int(mc), "sigma_threshold": sig_thr,
                       "model_folder": folder.name})
    return OODResult(table, scores, test_scores, dom.threshold, sigma, sig_thr)


# ====================================================================== per SNR
#: SNR bins of :func:`snr_study`: from a typical visit to the brightest stars (the training
#: set has SNR > 200, the test set on which the threshold is set 100-200).
SNR_BINS = (30, 50, 100, 200, 400, 800, 1500, 3000)
#: Spectra of :func:`snr_study` per profile: (in-domain spectra per SNR bin, spectra per
#: variant and SNR bin).
SNR_STUDY_SIZES = {"ci": (100, 10), "default": (300, 30), "paper": (1000, 100)}
#: The issue's bound on the false alarms in every SNR bin.
MAX_FALSE_ALARMS = 0.03
#: The issue's bound on the detections of the classes the score separates.
MIN_DETECTED = 0.9
#: Classes the score separates (the other two look like C, N, O changes; see the domain module).
SEPARATED = ("lsf_1.5x", "lines_shift_1px", "teff_7000K", "dwarf_3300K", "observed_frame_60kms")
#: Bump when the measurement changes in a way the cache key does not show.
SNR_STUDY_VERSION = "1"


def other_survey_seed(p) -> int:
    """The seed of the survey :func:`snr_study` draws its stars from: the survey seed of the
    profile ``p`` (a :class:`config.Profile`) + 1 (a population and noise draws neither the
    network nor the domain model saw)."""
    return p.survey_seed + 1


def _reobserved_source(seed: int, snr_of: dict):
    """The synthetic survey of ``seed`` in memory, each star of ``snr_of`` observed at that
    total SNR instead of its own (the noise re-drawn from the noiseless spectrum by the star's
    own generator, :meth:`~astronn_paper.synth.source.SyntheticSource.observe`), read
    through the one path every stage reads spectra by (``read_normalised``)."""
    from astronn_paper.synth.source import SyntheticSource

    class Reobserved(SyntheticSource):
        def apstars(self, indices):
            idx = [self._check(i) for i in np.atleast_1d(indices)]
            return [self.observe(i, s, snr=snr_of.get(i)) for i, s in zip(idx, self.intrinsic(idx))]

        def apstar(self, index):
            return self.apstars([index])[0]

    return Reobserved(seed, cache_spectra=0)


def snr_sample(dom: DomainModel, survey_seed: int, n_per_bin: int, n_per_class: int,
               bins=SNR_BINS, variants=tuple(v for v in VARIANTS if v != "in_domain"),
               seed: int = 0, progress: bool = False) -> dict:
    """Score in-domain spectra and physics variants over SNR bins, on the synthetic survey of
    ``survey_seed`` (in memory).

    Distinct in-box giants (:func:`astronn_paper.analysis.response.select_stars`: true labels
    in the training box, STARFLAG = 0, no cluster members), ``n_per_bin`` per SNR bin in
    domain and ``n_per_class`` per bin and variant, each observed at an SNR drawn log-uniform
    in its bin (the noise re-drawn from its noiseless spectrum), continuum-normalised as in the
    paper - the in-domain ones read through ``read_normalised``, the variants through
    :func:`render_variant` (spectra whose normalisation failed are kept and marked) - and
    scored with ``dom``. Returns per-spectrum arrays: ``kind`` ("in_domain" or the variant),
    ``snr`` (the SNR observed at), ``score``, ``chi2``, ``share``, ``rejected``,
    ``allstar_index``; and ``n_skipped`` (in-domain stars the survey could not normalise).
    """
    from astronn_paper.analysis import response
    from astronn_paper.synth.source import SyntheticSource

    bins = np.asarray(bins, float)
    nb = len(bins) - 1
    if nb < 1 or np.any(np.diff(bins) <= 0) or bins[0] <= 0:
        raise DomainError(f"SNR bins must be positive and increasing, got {list(bins)}")
    unknown = [v for v in variants if v not in VARIANTS or v == "in_domain"]
    if unknown:
        raise DomainError(f"unknown variants {unknown}; choose from {list(VARIANTS)[1:]}")
    groups = [("in_domain", int(n_per_bin))] + [(v, int(n_per_class)) for v in variants]
    n_total = nb * sum(n for _, n in groups)
    if n_total < 1:
        raise DomainError("nothing to measure: no in-domain spectra and no variant spectra asked for")
    rows = response.select_stars(SyntheticSource(survey_seed, cache_spectra=0), n_total, seed).index
    rng = np.random.default_rng([int(seed), 28])
    rows = rows[rng.permutation(len(rows))]
    out = {k: [] for k in ("kind", "snr", "score", "chi2", "share", "rejected", "allstar_index")}

    def add(kind, idx, snr, x, e, rejected):
        p = dom.parts(x, e)
        out["kind"].append(np.full(len(idx), kind)), out["snr"].append(snr)
        out["score"].append(p.score), out["chi2"].append(p.chi2), out["share"].append(p.share)
        out["rejected"].append(rejected), out["allstar_index"].append(idx)

    start, n_skipped = 0, 0
    for kind, n in groups:
        if n == 0:
            continue
        idx = rows[start:start + n * nb]
        start += n * nb
        lo, hi = np.repeat(bins[:-1], n), np.repeat(bins[1:], n)
        snr = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        if progress:
            print(f"  {kind}: {len(idx)} spectra", flush=True)
        if kind == "in_domain":
            src = _reobserved_source(survey_seed, dict(zip(idx.tolist(), snr.tolist())))
            ns = src.read_normalised(idx)
            n_skipped = len(ns.skipped)
            keep = np.isin(idx, ns.rows)            # read_normalised keeps the order asked for
            add(kind, ns.rows, snr[keep], ns.spec, ns.err, np.zeros(keep.sum(), bool))
        else:
            r = render_variant(kind, idx, survey_seed, snr=snr, keep_rejected=True)
            add(kind, r["allstar_index"], r["snr"], r["x"], r["x_err"], r["rejected"])
    res = {k: np.concatenate(v) for k, v in out.items()}
    res["n_skipped"] = n_skipped
    return res


@dataclass
class SNRStudy:
    """What :func:`snr_study` measured: per-spectrum scores (:func:`snr_sample`) and the
    tables made from them."""

    arrays: dict                     # kind, snr, score, chi2, share, rejected, allstar_index
    threshold: float
    bins: tuple
    meta: dict = field(default_factory=dict)

    def _bin_of(self) -> np.ndarray:
        return np.searchsorted(np.asarray(self.bins, float), self.arrays["snr"], side="right") - 1

    def false_alarms(self):
        """In-domain spectra per SNR bin: ``n``, ``flagged`` (fraction above the threshold),
        ``flagged_err`` (binomial standard error), ``median_score``, ``p98_score``,
        ``median_share`` (the model-error share w)."""
        import pandas as pd

        a, b = self.arrays, self._bin_of()
        rows = []
        for k, (lo, hi) in enumerate(zip(self.bins[:-1], self.bins[1:])):
            s = (a["kind"] == "in_domain") & (b == k)
            sc = a["score"][s]
            f = float(np.mean(sc > self.threshold)) if s.any() else float("nan")
            rows.append({"snr_bin": f"{lo:g}-{hi:g}", "snr_lo": lo, "snr_hi": hi, "n": int(s.sum()),
                         "flagged": f, "flagged_err": float(np.sqrt(f * (1 - f) / max(s.sum(), 1))),
                         "median_score": float(np.median(sc)) if s.any() else float("nan"),
                         "p98_score": float(np.quantile(sc, 0.98)) if s.any() else float("nan"),
                         "median_share": float(np.median(a["share"][s])) if s.any() else float("nan")})
        return pd.DataFrame(rows).set_index("snr_bin")

    def detection(self):
        """Physics variants per SNR bin: one row per (variant, bin) with ``n``, ``flagged``
        (DOMAIN_SCORE above the threshold), ``rejected`` (normalisation failed: rejected before
        the network anyway), ``caught`` (either) and ``median_score``."""
        import pandas as pd

        a, b = self.arrays, self._bin_of()
        rows = []
        for v in dict.fromkeys(a["kind"].tolist()):
            if v == "in_domain":
                continue
            for k, (lo, hi) in enumerate(zip(self.bins[:-1], self.bins[1:])):
                s = (a["kind"] == v) & (b == k)
                fl = a["score"][s] > self.threshold
                rows.append({"variant": v, "snr_bin": f"{lo:g}-{hi:g}", "snr_lo": lo, "snr_hi": hi,
                             "n": int(s.sum()), "flagged": float(np.mean(fl)) if s.any() else float("nan"),
                             "rejected": float(np.mean(a["rejected"][s])) if s.any() else float("nan"),
                             "caught": float(np.mean(fl | a["rejected"][s])) if s.any() else float("nan"),
                             "median_score": float(np.median(a["score"][s])) if s.any() else float("nan")})
        return pd.DataFrame(rows)

    def detected_above(self, min_snr: float):
        """Fraction of each variant's spectra with SNR >= ``min_snr`` that the score flags
        (a pandas Series by variant)."""
        import pandas as pd

        a = self.arrays
        out = {}
        for v in dict.fromkeys(a["kind"].tolist()):
            s = (a["kind"] == v) & (a["snr"] >= min_snr)
            if v != "in_domain" and s.any():
                out[v] = float(np.mean(a["score"][s] > self.threshold))
        return pd.Series(out, name=f"flagged at SNR >= {min_snr:g}")


def _domain_key(dom: DomainModel) -> str:
    """Fingerprint of what a domain model scores with (its arrays, curve and threshold)."""
    from astronn_paper import cache

    return cache.parts_fingerprint(
        np.ascontiguousarray(dom.mean, np.float32).tobytes(),
        np.ascontiguousarray(dom.components, np.float32).tobytes(),
        np.ascontiguousarray(dom.model_var, np.float32).tobytes(),
        np.asarray([*dom.curve, dom.threshold], np.float64).tobytes())


def snr_study(model_folder=None, profile=None, survey_seed: int | None = None,
              n_per_bin: int | None = None, n_per_class: int | None = None, bins=SNR_BINS,
              domain_model: DomainModel | None = None, force: bool = False,
              progress: bool = False) -> SNRStudy:
    """The out-of-domain flag per SNR bin: the false alarms on in-domain spectra and
    the detections of each physics variant, on a survey neither the network nor the domain
    model saw (:func:`other_survey_seed`), from SNR 30 to 3000 (:func:`snr_sample`).

    Sizes default to the profile's :data:`SNR_STUDY_SIZES`. The per-spectrum scores are cached
    in ``<data>/<profile>/results/domain_snr_<model folder>.npz`` (with a JSON sidecar) and
    reused when the domain model (its arrays and threshold), the survey (seed and generator),
    the sizes, bins and seed are the same. ~40 s of CPU in the default profile (3,570 spectra).
    """
    import json
    import time

    from astronn_paper import cache, config
    from astronn_paper.synth.source import generator_fingerprint

    prof = config.get_profile(profile)
    folder = Path(model_folder) if model_folder else config.shipped_model_dir()
    dom = domain_model if domain_model is not None else DomainModel.load_for(folder)
    survey_seed = other_survey_seed(prof) if survey_seed is None else int(survey_seed)
    d_bin, d_cls = SNR_STUDY_SIZES.get(prof.name, SNR_STUDY_SIZES["default"])
    n_per_bin = d_bin if n_per_bin is None else int(n_per_bin)
    n_per_class = d_cls if n_per_class is None else int(n_per_class)
    seed = config.seed_for("domain:snr-study", prof)
    key = {"domain": _domain_key(dom), "survey_seed": survey_seed,
           "generator": generator_fingerprint(survey_seed), "n_per_bin": n_per_bin,
           "n_per_class": n_per_class, "bins": [float(b) for b in bins], "seed": seed,
           "variants": [v for v in VARIANTS if v != "in_domain"], "version": SNR_STUDY_VERSION}
    path = config.sub_dir("results", prof) / f"domain_snr_{folder.name}.npz"
    side = path.with_name(path.name + ".json")
    if not force and path.is_file() and side.is_file():
        meta = json.loads(side.read_text())
        if meta.get("key") == key:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            arrays["kind"] = arrays["kind"].astype(str)
            return SNRStudy(arrays, dom.threshold, tuple(bins), meta)
    if survey_seed == prof.survey_seed:
        raise DomainError(f"survey seed {survey_seed} is the one the network and the domain model "
                          "were fitted on; the study needs another")
    t0, c0 = time.time(), time.process_time()
    arrays = snr_sample(dom, survey_seed, n_per_bin, n_per_class, bins, seed=seed, progress=progress)
    n_skipped = int(arrays.pop("n_skipped"))
    meta = {"key": key, "model_folder": folder.name, "profile": prof.name, "threshold": dom.threshold,
            "n_skipped_in_domain": n_skipped, "n_spectra": int(arrays["score"].size),
            "wall_s": round(time.time() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with cache.atomic_path(path, suffix=".tmp.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{k: (v.astype("U") if k == "kind" else v) for k, v in arrays.items()})
    cache.atomic_write_json(side, meta)
    return SNRStudy(arrays, dom.threshold, tuple(bins), meta)
