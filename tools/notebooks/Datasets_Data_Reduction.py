# %% [markdown]
# # Datasets and data reduction
#
# The first step of Leung & Bovy (2019): choose the stars, normalise their spectra, and write
# the training and test sets that every later notebook reads.
#
# * **Training set**: APOGEE DR14 combined spectra of giants with ASPCAP
#   4000 ≤ T<sub>eff</sub> ≤ 5500 K and SNR > 200, with STARFLAG == 0 (no flagged problems in
#   the visit combination), ASPCAPFLAG == 0 (no ASPCAP warning), VSCATTER < 1 km/s (no sign of a
#   binary companion in the radial velocities), and no apo1m stars. The paper had 33,407 of them
#   (30,067 to train, 3,340 for validation) and their 98,596 individual visits.
# * **High-SNR test set**: the same cuts but 100 < SNR < 200 — stars of the same kind that the
#   networks never see, at the SNR of most of the survey (28,692 stars, 86,200 visits in the paper).
# * **Individual visits** of both: the same stars at lower SNR (a visit has roughly the SNR of
#   the combined spectrum divided by the square root of the number of visits), which measure how
#   the networks degrade with noise (same star, same labels, different spectra). As in the
#   paper, only stars observed more than once contribute visits (a single visit *is* the combined
#   spectrum).
#
# The labels are ASPCAP's: T<sub>eff</sub> and log g from `PARAM`, the 20 abundances [X/H] from
# `X_H`, with their errors. **Missing labels stay -9999**: the censored loss ignores them, so a star
# with no ASPCAP log g still teaches the networks its abundances (995 such stars in the paper's
# training set).
#
# The survey comes from a *survey source*: a DR14 SAS mirror on disk when there is one, otherwise
# the embedded synthetic DR14 survey (same allStar columns, same apStar layout, and the true labels
# beside the ASPCAP-like ones). The profile sets the size: the `paper` profile keeps every star
# passing the cuts, `default` and `ci` a seeded random subset.

# %% tags=["parameters"]
profile = None

# %%
import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee, config, dataset
from astronn_paper.survey import open_source
from astronn_paper.figures import datasets as figs
from astronn_paper.figures import save

P = config.get_profile(profile)
source = open_source(None, P)
allstar = source.allstar()
print(f"profile {P.name}: {P.n_train or 'all'} training stars, {P.n_test or 'all'} test stars, "
      f"visits {'yes' if P.visits else 'no'}")
print(f"survey source: {source.kind} ({len(allstar):,} allStar rows, fingerprint {source.fingerprint()})")

# %% [markdown]
# ## The cuts
#
# Each set is a `Selection` (recorded in the HDF5 file it produces). How many allStar rows pass
# each cut, before the profile draws its subset:

# %%
selections = dataset.standard_selections(P)
for name, sel in selections.items():
    passing = dataset.selection_mask(allstar, sel)
    n_pass = int(passing.sum())
    nv = allstar["NVISITS"][passing]
    nvis = int(nv[nv > 1].sum())
    print(f"{name:>5}: {sel.describe()}")
    print(f"       {n_pass:,} stars pass ({nvis:,} visits); the profile keeps "
          f"{min(n_pass, sel.max_stars or n_pass):,}")
print("paper (real DR14): 33,407 training stars (98,596 visits), 28,692 test stars (86,200 visits)")

# %% [markdown]
# ## Continuum normalisation
#
# The networks read *continuum-normalised* apStar spectra, not ASPCAP's own normalisation, so that
# they can be applied to any APOGEE spectrum without running ASPCAP. For each star the
# global-weighted combined spectrum (apStar row 1; row 0 when there is a single visit), and each
# individual visit, is normalised with astroNN's `apogee_continuum`:
#
# 1. the chip gaps are removed (8575 → 7514 pixels);
# 2. on each of the three detectors, a **degree-2 Chebyshev polynomial** is fitted, weighted by the
#    inverse variance, to the flux of astroNN's DR14 continuum pixels (241, 108 and 180 pixels on
#    the blue, green and red chip), and the spectrum and its error are divided by it;
# 3. pixels flagged with PIXMASK bits 0–7 (BADPIX, CRPIX, SATPIX, UNFIXABLE, BADDARK, BADFLAT,
#    BADERR, NOSKY) or 12 (SIG_SKYLINE) are set to flux 1 (and error 1): a masked pixel looks like
#    continuum and carries no line information.
#
# Before that, every spectrum is checked; a star with a missing or corrupted file, NaN/inf
# values, zero or negative errors, or no usable continuum is **skipped and reported, never
# zeroed**; a bad visit costs only that visit.
#
# Compiling reads and normalises the spectra in parallel worker processes and writes one HDF5 file
# per set (`combined/` and `visits/` groups); the files are cached by the fingerprint of their
# inputs, so re-running this notebook does not recompile.

# %%
reports = {}
paths = dataset.build_standard_sets(P, source=source, reports=reports, progress=False)
for name, rep in reports.items():
    print(rep)
    print()

# %%
rows = []
for name, path in paths.items():
    meta = dataset.info(path)
    rows.append((name, meta["n"].get("combined", 0), meta["n"].get("visits", 0),
                 meta["bytes"] / 2**20, meta["fingerprint"]))
print(f"{'set':>6} {'stars':>8} {'visits':>8} {'MiB':>8}  fingerprint")
for r in rows:
    print(f"{r[0]:>6} {r[1]:>8,} {r[2]:>8,} {r[3]:>8.1f}  {r[4]}")

# %% [markdown]
# ## Signal-to-noise
#
# The training set sits at SNR > 200 (median 335.5 in the paper), the high-SNR test set at
# 100–200 (median 140.9) and the individual visits well below (median 57.2 for the test visits in
# the paper): the visits are the low-SNR test of the same stars.

# %%
fig = figs.snr_distributions(paths["train"], paths["test"])
save(fig, "datasets_snr", P)
for name, path in paths.items():
    for kind in ("combined", "visits"):
        snr = dataset.load_columns(path, ["SNR"], kind)["SNR"]
        print(f"median SNR {name} {kind}: {np.median(snr):.1f}")

# %% [markdown]
# ## The training set in the Kiel diagram
#
# Red-giant branch and red clump between 4000 and 5500 K, metal-poor giants hotter at fixed
# log g. Stars without an ASPCAP log g are kept (their other labels still train the networks);
# the title counts them.

# %%
fig = figs.teff_logg(paths["train"])
save(fig, "datasets_teff_logg", P)

# %% [markdown]
# ## Continuum versus ASPCAP normalisation
#
# One training star, normalised the paper's way and by ASPCAP (whose pseudo-continuum is
# iterated against the best-fitting synthetic spectrum). A low-order fit to a few hundred
# continuum pixels per chip cannot follow every wiggle of the true continuum, and in
# line-blanketed regions of cool, metal-rich giants the "continuum" pixels themselves sit below
# the true continuum: the residual shows where the two normalisations differ. The networks learn
# from either — see `ASPCAP_Normalization.ipynb` for the comparison of their predictions.

# %%
# a typical training giant: closest to Teff = 4700 K and solar [Fe/H]
cols = dataset.load_columns(paths["train"], ["labels", "allstar_index"])
teff, feh = cols["labels"][:, apogee.TARGETS.index("teff")], cols["labels"][:, apogee.TARGETS.index("Fe")]
star = int(cols["allstar_index"][np.argmin(np.abs(teff - 4700) / 100 + np.abs(feh) / 0.1)])
fig = figs.normalisation_comparison(source, star)
save(fig, "datasets_normalisation", P)

# %% [markdown]
# ## Loading the sets
#
# `dataset.load` returns `(x, y, x_err, y_err)` for chosen labels (the 22 targets in the paper's
# order by default), from the `combined` or the `visits` group, reading only what is asked:

# %%
x, y, x_err, y_err = dataset.load(paths["train"], rows=slice(0, 5))
print(x.shape, y.shape, "targets:", ", ".join(apogee.TARGETS))
print("missing labels (-9999) per target in the training set:")
labels = dataset.load_columns(paths["train"], ["labels"])["labels"]
print({t: int(n) for t, n in zip(apogee.TARGETS, (labels == apogee.MISSING).sum(axis=0)) if n})
