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
import numpy as np

from astronn_paper import apogee, config, dataset
from astronn_paper.dataset.sources import open_source
from astronn_paper.figures import datasets as figs
from astronn_paper.figures import save

P = config.get_profile(profile)
source = open_source(None, P)
allstar = source.allstar()
print(f"profile {P.name}: {P.n_train or 'all'} training stars, {P.n_test or 'all'} test stars, "
      f"visits {'yes' if P.visits else 'no'}")
print(f"survey source: {source.kind} ({len(allstar):,} allStar rows, fingerprint {source.fingerprint()})")

# %% [markdown]
# The `default` profile draws 8,000 training and 3,000 test stars, with their visits, from the
# synthetic DR14 survey, whose allStar table has the 277,371 rows of the real DR14 one. The cut
# counts below are over the whole table; everything from the compiled sets on comes from these
# subsets, about a quarter (training) and a tenth (test) of the paper's sets. The `paper`
# profile keeps every star.

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
# **Verdict.** On the whole synthetic allStar table the paper's cuts keep 35,723 training stars
# and 30,758 high-SNR test stars, 7 % more than the paper's 33,407 and 28,692: the synthetic
# survey's SNR was drawn so that these cuts give the paper's counts, and 7 % is the accuracy of
# that tuning. They have 121,018 and 95,423 usable visits, 23 % and 11 % more than the paper's
# 98,596 and 86,200, because synthetic stars are observed a little more often than the real
# ones. Stars and visits are thus in the same proportion as in the paper; the `default` profile
# then keeps a seeded 8,000 and 3,000 of the stars.

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
#    inverse variance, to the flux of astroNN's DR14 continuum pixels (a few hundred per chip),
#    and the spectrum and its error are divided by it;
# 3. pixels flagged with the PIXMASK bits BADPIX, CRPIX, SATPIX, UNFIXABLE, BADDARK, BADFLAT,
#    BADERR, NOSKY or SIG_SKYLINE (`apogee.PAPER_MASK_BITS`) are set to flux 1 (and error 1): a
#    masked pixel looks like continuum and carries no line information.
#
# Before that, every spectrum is checked; a star with a missing or corrupted file, NaN/inf
# values, zero or negative errors, or no usable continuum is **skipped and reported, never
# zeroed**; a bad visit costs only that visit. After it, a spectrum whose normalisation failed
# is skipped too (`failed_normalisation`): a continuum fit that crosses zero (a non-positive
# normalised error), or more than 1 % of the unmasked pixels more than 3σ below 0 or above a
# ceiling well over the continuum (`MAX_NORMALISED_FLUX` in `survey/normalise.py`).
# A continuum-normalised H-band spectrum of a cool star lies at or below its continuum
# (absorption lines down to ~0.2, the continuum at 1 within the noise; sky lines are masked), so
# such a spectrum is not a star's spectrum normalised but a normalisation gone wrong.
#
# Compiling reads and normalises the spectra in parallel worker processes and writes one HDF5 file
# per set (`combined/` and `visits/` groups); the files are cached by the fingerprint of their
# inputs, so re-running this notebook does not recompile.

# %%
reports = {}
paths = dataset.build_standard_sets(P, source=source, reports=reports, progress=False)
for name, rep in reports.items():
    print(rep.text(run=False))
    print()

# %% [markdown]
# **Verdict.** All 8,000 training stars compiled, with 27,371 visits; of the 3,000 test stars
# 2,999 did, with 9,245 visits. One test star (2M15292887+4448094) failed the normalisation
# check and was skipped and reported by name, not zeroed; no visit was skipped. The synthetic
# survey has no missing or damaged apStar files (the real DR14 has a few; the skip machinery
# for them is exercised by the unit tests on corrupted files), so the one loss here is a
# normalisation gone wrong, caught by the check above. Every later notebook uses these 8,000
# training and 2,999 test stars.

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
# The two files hold 1,310 MiB and 456 MiB: the 7514-pixel spectra, their errors and the visits,
# in float32. The fingerprint names the inputs (selection, survey, code version) that made each
# file; a later notebook that finds a different fingerprint rebuilds the set instead of reading
# a stale one.

# %% [markdown]
# ## Signal-to-noise
#
# The training set sits at SNR > 200 (median 335.5 in the paper), the high-SNR test set at
# 100–200 (median 140.9) and the individual visits well below (median 57.2 for the test visits in
# the paper): the visits are the low-SNR test of the same stars. SNR is the allStar column, the
# median signal-to-noise per pixel of the combined spectrum (of each visit for the visits).

# %%
fig = figs.snr_distributions(dataset.store.snr_by_group(paths))
save(fig, "datasets_snr", P)
for name, path in paths.items():
    for kind in ("combined", "visits"):
        snr = dataset.load_columns(path, ["SNR"], kind)["SNR"]
        print(f"median SNR {name} {kind}: {np.median(snr):.1f}")

# %% [markdown]
# **Verdict.** The medians match the paper's: 334.1 against 335.5 for the training set, 140.6
# against 140.9 for the high-SNR test set, and 61.3 against 57.2 for the test visits (7 %
# higher: the synthetic survey splits a star's SNR over its visits with a random scatter tuned
# to the paper's median, and lands slightly above). The visits of the training stars (median
# 147.9) are centred on the test set's SNR range, so they test the training stars at about the
# SNR of the test set.
#
# **The spike at the top of the training histogram** (annotated in the figure) is the synthetic
# survey's ceiling: it draws each star's combined SNR from its H magnitude and number of visits
# and clips it at a fixed maximum (`SNR_MAX` in `synth/catalog.py`), so the brightest stars all
# sit at the same SNR. The real allStar SNR is measured from the combined spectrum; whether its
# bright tail has a ceiling of its own cannot be checked here, where no real allStar file is
# available. For the networks this is harmless, since such spectra are nearly noiseless either
# way and their SNR is never an input.

# %% [markdown]
# ## The training set in the Kiel diagram
#
# Red-giant branch and red clump between 4000 and 5500 K, metal-poor giants hotter at fixed
# log g. Stars without an ASPCAP log g are kept (their other labels still train the networks);
# the title counts them. The selection has no log g cut, so main-sequence stars in the Teff
# range are part of the set.

# %%
fig = figs.teff_logg(dataset.store.labels(paths["train"], ("teff", "logg", "Fe")))
save(fig, "datasets_teff_logg", P)

# %% [markdown]
# **Verdict.** The giant branch, the red clump and the metal-poor giants (dark, hotter at fixed
# log g) are where the paper's training set has them. The stars without an ASPCAP log g (counted
# in the title, and below) stay in the set and teach the networks their other labels. Two
# features need a word:
#
# * **The dwarf sequence** (the band at the bottom of the diagram). The cuts have no log g
#   limit, so dwarfs with 4000–5500 K and SNR > 200 enter the training set in the real survey
#   as well. In the synthetic survey a row is a dwarf when its real Gaia DR2 parallax makes it
#   intrinsically faint, or at random for a small share of the rows with poor parallaxes. The
#   networks therefore learn dwarfs too, from a small minority of the training stars.
# * **The sparse row between the giant branch and the dwarfs**, from the cool edge of the
#   diagram to where it meets the bottom of the giant branch. These stars are synthetic
#   *subgiants*: a share of the synthetic dwarfs are given a subgiant log g drawn uniformly
#   whatever their Teff (`synth/population.py`). Real subgiants are warmer, where the subgiant
#   branch meets the base of the giant branch, so the cool stars of this row are a
#   simplification of the synthetic population, with no real counterpart in this number. They
#   are a tiny fraction of the training set and barely weigh in the training. The sharp
#   high-log g edge of the giant branch is also synthetic: the giant branch is drawn up to a
#   fixed log g.

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
# **Verdict.** For this 4700 K solar-metallicity giant the paper's normalisation sits slightly
# below ASPCAP's on all three chips, most on the green one (the panel titles give the median
# difference over the unmasked pixels), with slow trends along each chip: a degree-2 polynomial
# through fixed continuum pixels cannot follow the pseudo-continuum that ASPCAP fits
# iteratively. The two spectra differ in their continuum level, not in their lines, which is
# what the paper argues: a network can learn the labels from either.
# `ASPCAP_Normalization.ipynb` tests it by training on both.

# %% [markdown]
# ## Loading the sets
#
# `dataset.load` returns `(x, y, x_err, y_err)` for chosen labels (the 22 targets in the paper's
# order by default), from the `combined` or the `visits` group, reading only what is asked:

# %%
x, y, x_err, y_err = dataset.load(paths["train"], rows=slice(0, 5))
print(f"spectra {x.shape[0]} x {x.shape[1]} pixels, labels {y.shape[0]} x {y.shape[1]}; "
      f"targets: {', '.join(apogee.TARGETS)}")
print("missing labels (-9999) per target in the training set:")
labels = dataset.load_columns(paths["train"], ["labels"])["labels"]
missing = (labels == apogee.MISSING).sum(axis=0)
print(", ".join(f"{t} {int(n):,}" for t, n in zip(apogee.TARGETS, missing)))

# %% [markdown]
# **Verdict.** Every star has a Teff (the cuts need it); the abundance labels are missing for
# 0.6 % (Fe, 50 stars) to 31 % (P, 2,455 stars) of the training set, most often for the weak-lined
# elements ASPCAP fails on (P, Na, Co, Ti II, V). The censored loss skips those entries, so a
# missing [P/H] costs the P branch one example and nothing else. The synthetic ASPCAP fails
# with the probabilities set per element in the survey (`LABEL_NOISE` in `synth/catalog.py`);
# the paper quotes only the log g count (995) for real DR14.
#
# ## What this shows
#
# * The paper's cuts on the synthetic DR14 table keep 35,723 training and 30,758 test stars,
#   7 % more than the paper's 33,407 and 28,692; the `default` profile uses 8,000 and 3,000.
# * The SNR distributions match the paper's: median 334.1 (paper 335.5) for training, 140.6
#   (140.9) for the high-SNR test, 61.3 (57.2) for the test visits.
# * The brightest training stars pile up at the synthetic survey's SNR ceiling (not a feature
#   of real DR14 that this survey copies); it does not matter to the networks.
# * Of the 3,000 test stars drawn, 2,999 compiled: one failed the normalisation check and was
#   skipped and reported.
# * The training set holds a minority of dwarfs, allowed by the paper's cuts, and a sparse row
#   of cool synthetic subgiants that have no real counterpart.
# * 273 stars (3.4 %; paper 3.0 %) lack a log g and up to 31 % lack a given abundance; none of
#   them is dropped, since the loss ignores the missing labels.
