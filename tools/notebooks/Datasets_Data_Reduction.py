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
from astronn_paper.analysis.verdicts import names, verdict

P = config.get_profile(profile)
source = open_source(None, P)
allstar = source.allstar()
print(f"profile {P.name}: {P.n_train or 'all'} training stars, {P.n_test or 'all'} test stars, "
      f"visits {'yes' if P.visits else 'no'}")
print(f"survey source: {source.kind} ({len(allstar):,} allStar rows)")
verdict("""This run (profile `{name}`) draws {n_train} training and {n_test} test stars{visits} from the
{kind} survey, whose allStar table has {rows:,} rows. The cut counts below are
over the whole table; everything from the compiled sets on comes from these subsets. The `paper` profile
keeps every star.""", name=P.name, n_train=f"{P.n_train:,}" if P.n_train else "all",
        n_test=f"{P.n_test:,}" if P.n_test else "all", visits=", with their visits," if P.visits else "",
        kind="synthetic DR14" if source.is_synthetic else source.kind, rows=len(allstar))

# %% [markdown]
# ## The cuts
#
# Each set is a `Selection` (recorded in the HDF5 file it produces). How many allStar rows pass
# each cut, before the profile draws its subset:

# %%
selections = dataset.standard_selections(P)
passed = {}
for name, sel in selections.items():
    passing = dataset.selection_mask(allstar, sel)
    n_pass = int(passing.sum())
    nv = allstar["NVISITS"][passing]
    nvis = int(nv[nv > 1].sum())
    passed[name] = (n_pass, nvis, min(n_pass, sel.max_stars or n_pass))
    print(f"{name:>5}: {sel.describe()}")
    print(f"       {n_pass:,} stars pass ({nvis:,} visits); the profile keeps "
          f"{min(n_pass, sel.max_stars or n_pass):,}")
print("paper (real DR14): 33,407 training stars (98,596 visits), 28,692 test stars (86,200 visits)")

# %%
paper_n = {"train": (33407, 98596), "test": (28692, 86200)}
rel = {k: (passed[k][0] / paper_n[k][0] - 1, passed[k][1] / paper_n[k][1] - 1) for k in paper_n}
verdict("""**Verdict.** On the whole allStar table the paper's cuts keep {tr:,} training stars and {te:,}
high-SNR test stars, {r_tr:+.0%} and {r_te:+.0%} against the paper's 33,407 and 28,692 (the synthetic survey's
SNR was drawn so that these cuts give the paper's counts). They have {v_tr:,} and {v_te:,} usable visits,
{rv_tr:+.0%} and {rv_te:+.0%} against the paper's 98,596 and 86,200. The profile then keeps a seeded
{k_tr:,} and {k_te:,} of the stars.""",
        tr=passed["train"][0], te=passed["test"][0], r_tr=rel["train"][0], r_te=rel["test"][0],
        v_tr=passed["train"][1], v_te=passed["test"][1], rv_tr=rel["train"][1], rv_te=rel["test"][1],
        k_tr=passed["train"][2], k_te=passed["test"][2])

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
# normalised error), or more than 1 % of the unmasked pixels more than three standard deviations below 0
# or above a ceiling well over the continuum (`MAX_NORMALISED_FLUX` in `survey/normalise.py`).
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

# %%
tr_rep, te_rep = reports["train"], reports["test"]
skipped = [s_ for r in reports.values() for s_ in r.skipped]
n_vskip = sum(len(r.visits_skipped) for r in reports.values())
verdict("""**Verdict.** Of the {sel_tr:,} training stars {w_tr:,} compiled, with {v_tr:,} visits; """
        """of the {sel_te:,}
test stars {w_te:,} did, with {v_te:,} visits. {skip_text} {vskip_text} A spectrum that fails is skipped
and reported by name, never zeroed; the synthetic survey has no missing or damaged apStar files (the real
DR14 has a few; the skip machinery for them is exercised by the unit tests on corrupted files). Every later
notebook uses these {w_tr:,} training and {w_te:,} test stars.""",
        sel_tr=tr_rep.selected, w_tr=tr_rep.written, v_tr=tr_rep.visits_written,
        sel_te=te_rep.selected, w_te=te_rep.written, v_te=te_rep.visits_written,
        skip_text=(f"{len(skipped)} star{'s' if len(skipped) > 1 else ''} ("
                   + names(f"{x['APOGEE_ID']}: {x['reason']}" for x in skipped) + ") skipped."
                   if skipped else "No star was skipped."),
        vskip_text=f"{n_vskip} visits were skipped." if n_vskip else "No visit was skipped.")

# %%
rows = []
for name, path in paths.items():
    meta = dataset.info(path)
    rows.append((name, meta["n"].get("combined", 0), meta["n"].get("visits", 0), meta["bytes"] / 2**20))
print(f"{'set':>6} {'stars':>8} {'visits':>8} {'MiB':>8}")
for r in rows:
    print(f"{r[0]:>6} {r[1]:>8,} {r[2]:>8,} {r[3]:>8.1f}")

# %% [markdown]
# The files hold the 7514-pixel spectra, their errors and the visits, in float32. Each file records
# the inputs (selection, survey, code version) that made it; a later notebook that finds different
# inputs rebuilds the set instead of reading a stale one.

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
med_snr = {}
for name, path in paths.items():
    for kind in ("combined", "visits"):
        snr = dataset.load_columns(path, ["SNR"], kind)["SNR"]
        med_snr[name, kind] = float(np.median(snr))
        print(f"median SNR {name} {kind}: {med_snr[name, kind]:.1f}")

# %%
verdict("""**Verdict.** The medians against the paper's: {tr:.1f} against 335.5 for the training set, {te:.1f}
against 140.9 for the high-SNR test set, and {tv:.1f} against 57.2 for the test visits ({tv_rel:+.0%}: the
synthetic survey splits a star's SNR over its visits with a random scatter tuned to the paper's median). The
visits of the training stars (median {trv:.1f}) lie near the test set's SNR range, so they test the training
stars at about the SNR of the test set.""",
        tr=med_snr["train", "combined"], te=med_snr["test", "combined"], tv=med_snr["test", "visits"],
        tv_rel=med_snr["test", "visits"] / 57.2 - 1, trv=med_snr["train", "visits"])

# %% [markdown]
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

# %%
ab = list(apogee.ABUNDANCES)
miss = {t: int(n) for t, n in zip(apogee.TARGETS, missing)}
n_tr = len(labels)
lo_t, hi_t = min(ab, key=miss.get), max(ab, key=miss.get)
verdict("""**Verdict.** {teff_text} The abundance labels are missing for {lo:.1%} ({lo_t}, {lo_n:,} stars) to
{hi:.0%} ({hi_t}, {hi_n:,} stars) of the training set, most often for the weak-lined elements ASPCAP fails on.
The censored loss skips those entries, so a missing [{hi_t}/H] costs the {hi_t} branch one example and
nothing else. The synthetic ASPCAP fails with the probabilities set per element in the survey (`LABEL_NOISE`
in `synth/catalog.py`); the paper quotes only the log g count (995) for real DR14.

## What this shows

* The paper's cuts on the allStar table keep {tr:,} training and {te:,} test stars ({r_tr:+.0%} and
  {r_te:+.0%} against the paper's 33,407 and 28,692); this profile uses {k_tr:,} and {k_te:,}.
* The SNR medians: {snr_tr:.1f} (paper 335.5) for training, {snr_te:.1f} (140.9) for the high-SNR test,
  {snr_tv:.1f} (57.2) for the test visits.
* The brightest training stars pile up at the synthetic survey's SNR ceiling (not a feature of real DR14
  that this survey copies); it does not matter to the networks.
* Of the {sel_te:,} test stars drawn, {w_te:,} compiled; of the {sel_tr:,} training stars, {w_tr:,}. Failures
  are skipped and reported, never zeroed.
* The training set holds a minority of dwarfs, allowed by the paper's cuts, and a sparse row of cool
  synthetic subgiants that have no real counterpart.
* {logg_n:,} stars ({logg_f:.1%}; paper 3.0 %) lack a log g and up to {hi:.0%} lack a given abundance; none of
  them is dropped, since the loss ignores the missing labels.""",
        teff_text=("Every star has a Teff (the cuts need it)." if miss["teff"] == 0
                   else f"{miss['teff']:,} stars lack a Teff."),
        lo=miss[lo_t] / n_tr, lo_t=lo_t, lo_n=miss[lo_t], hi=miss[hi_t] / n_tr, hi_t=hi_t, hi_n=miss[hi_t],
        tr=passed["train"][0], te=passed["test"][0], r_tr=rel["train"][0], r_te=rel["test"][0],
        k_tr=passed["train"][2], k_te=passed["test"][2], snr_tr=med_snr["train", "combined"],
        snr_te=med_snr["test", "combined"], snr_tv=med_snr["test", "visits"],
        sel_te=te_rep.selected, w_te=te_rep.written, sel_tr=tr_rep.selected, w_tr=tr_rep.written,
        logg_n=miss["logg"], logg_f=miss["logg"] / n_tr)

# %% [markdown]
# `Training.ipynb` trains the paper's two networks on the training set compiled here.
