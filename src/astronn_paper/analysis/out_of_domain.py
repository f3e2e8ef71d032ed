"""The out-of-domain demonstration (issue 23): synthetic-survey stars rendered with
deliberately different physics (:data:`VARIANTS`), normalised as in the paper and scored with
a model folder's domain model (:mod:`astronn_paper.model.domain`), beside what the network's
MC-dropout uncertainty alone says about them (:func:`ood_table`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper.model.domain import DomainError, DomainModel

#: Spectra rendered with deliberately different physics (the out-of-domain demonstration
#: of issue 23), each applied to stars of the standard high-SNR test set; "in_domain" is
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


def variant_apstars(variant: str, allstar_index, survey_seed: int | None = None):
    """apStar arrays (:class:`~astronn_paper.survey.source.ApStar`, with the star's own
    header) of synthetic-survey stars rendered with a physics variant, and their (teff, logg).

    The stars' true labels and visit SNRs come from the synthetic survey
    (:class:`~astronn_paper.survey.synthetic.SyntheticSource`); the intrinsic spectrum is
    :func:`astronn_paper.synth.spectra.render` with the variant's change, then
    :func:`astronn_paper.synth.instrument.observe` with the star's own random generator, as
    ``SyntheticSource.apstar`` does (``"in_domain"`` gives exactly the survey's apStar).
    """
    from astronn_paper import config
    from astronn_paper.survey.synthetic import SyntheticSource
    from astronn_paper.synth import spectra

    if variant not in VARIANTS:
        raise DomainError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    seed = config.get_profile(None).survey_seed if survey_seed is None else int(survey_seed)
    src = SyntheticSource(seed, cache_spectra=0)
    pop = src.catalog.population
    idx = np.atleast_1d(np.asarray(allstar_index, dtype=np.int64))
    teff, logg, vmic = variant_labels(variant, pop.teff[idx], pop.logg[idx], pop.vmicro[idx],
                                      pop.feh[idx])
    kw = {"lsf_1.5x": {"lsf_scale": 1.5},
          "lines_shift_1px": {"shift_pix": 1.0},
          "molecules_1.3x": {"species_scale": spectra.species_scale(molecules=1.3)},
          "no_molecules": {"species_scale": spectra.species_scale(molecules=0.0)},
          "observed_frame_60kms": {"rv_kms": 60.0}}.get(variant, {})
    intrinsic = spectra.render(teff, logg, pop.xh20[idx], vmic, **kw)
    stars = [src.observe(int(i), intrinsic[k], teff=float(teff[k])) for k, i in enumerate(idx)]
    for s in stars:
        s.header["VARIANT"] = variant
    return stars, teff, logg


def render_variant(variant: str, allstar_index, survey_seed: int | None = None) -> dict:
    """Normalised combined spectra of synthetic-survey stars rendered with a physics variant
    (:func:`variant_apstars`, then the paper's continuum normalisation,
    :func:`astronn_paper.survey.normalise.normalise_batch`, of the combined row). Returns
    ``{"x", "x_err", "allstar_index", "snr", "teff", "logg"}`` of the stars that normalise
    (bad ones are dropped and counted in ``"n_bad"``).
    """
    from astronn_paper.survey import normalise

    stars, teff, logg = variant_apstars(variant, allstar_index, survey_seed)
    idx = np.atleast_1d(np.asarray(allstar_index, dtype=np.int64))
    comb = [s.combined() for s in stars]
    norm = normalise.normalise_batch(np.array([c[0] for c in comb]), np.array([c[1] for c in comb]),
                                     np.array([c[2] for c in comb]))
    g = norm.good
    snr = np.array([float(s.header["SNR"]) for s in stars])
    return {"x": norm.spec, "x_err": norm.err, "allstar_index": idx[g], "snr": snr[g],
            "teff": teff[g], "logg": logg[g], "n_bad": int((~g).sum())}


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
    """The out-of-domain demonstration of issue 23, as a table.

    ``n_per_class`` stars drawn (seeded) from the standard high-SNR test set (SNR 100-200)
    are rendered with each physics variant (:data:`VARIANTS`, :func:`render_variant`),
    normalised as in the paper and scored with the model folder's domain model. Columns:
    ``variant``, ``description``, ``n``, ``flagged`` (fraction with DOMAIN_SCORE above the
    threshold), ``median_score``; with ``with_sigma``, from the shipped network's MC dropout
    (``mc`` passes): ``sigma_flagged`` (fraction whose normalised σ - the median over the
    22 labels of σ_total divided by its in-domain median - exceeds the in-domain 98th
    percentile), ``sigma_teff_flagged`` and ``sigma_fe_flagged`` (the same for σ(Teff) and
    σ([Fe/H]) alone), ``median_sigma_ratio``, and the median change of the predicted
    Teff, logg, [C/H], [N/H], [O/H], [Fe/H] against the same stars in domain.
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
        r = render_variant(v, cols["allstar_index"][rows], survey_seed=prof.survey_seed)
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
