# %% [markdown]
# # How much training data does the network need?
#
# Leung & Bovy (2019, sect. 5.6) retrain the censored network on random halves, quarters, ... of
# their training set (real DR14), down to 939 spectra, and find that the precision degrades slowly
# down to a few thousand spectra and quickly below: a network of this size needs thousands of
# high-SNR spectra, but not the full survey.
#
# Here every subset is drawn with a seed from the profile, the network is trained with the same
# hyper-parameters (10 % of each subset for validation) — `small_data_replicates` times per size,
# each replicate on its own subset with its own initialisation, so that the randomness of
# training can be measured — and **all networks are scored on the same
# held-out spectra: the combined spectra of the high-SNR test set** — against the ASPCAP-like
# labels (what the paper could measure) and against the true labels of the synthetic survey.
# (The paper scored on the individual visits of the training stars; its numbers are overlaid
# for the trend, not for a like-for-like comparison.)

# %% tags=["parameters"]
profile = None

# %%
from astronn_paper import config, paper
from astronn_paper.analysis import results, small_data
from astronn_paper.figures import save
from astronn_paper.figures import small_data as figs

P = config.get_profile(profile)
print(f"profile: {P.name}; training fractions "
      f"{', '.join(f'{f:g}' for f in P.small_data_fractions)}, "
      f"{P.small_data_replicates} network(s) per fraction, {P.epochs} epochs")

# %% [markdown]
# On the `default` profile that is the network trained on the full set and, for each of the five
# fractions printed above, two networks: eleven in all, each trained for the paper's 60 epochs and
# scored on the same high-SNR test stars. The paper (real DR14) went from 30,067 down to 939
# training spectra, one network per size.

# %% [markdown]
# ## Train (or reuse) one network per subset and score it

# %%
runs = small_data.small_data_study(P)
vs_aspcap = small_data.scatter_vs_size(runs, "aspcap")
vs_truth = small_data.scatter_vs_size(runs, "truth")
shown = list(small_data.TARGETS_SHOWN)
print("scatter against the ASPCAP-like labels (Teff in K, others dex):")
print(vs_aspcap[shown].round(3).to_string())
print("\nscatter against the truth:")
print(vs_truth[shown].round(3).to_string())
print("\nevery network against the truth (replicates of one size side by side):")
print(small_data.replicate_scatter(runs, "truth")[shown].round(3).to_string())

# %% [markdown]
# The full set is 7,200 training spectra (the other 10 % is kept for validation), the subsets
# 3,600 down to 225.
#
# **Verdict.** Against the truth the scatter grows slowly from 7,200 down to 900 training
# spectra (Teff 22.3 → 30.8 K, [Fe/H] 0.017 → 0.031 dex, log g 0.120 → 0.210 dex) and breaks
# down below (Teff 46 K at 450 and 134 K at 225 spectra; log g 0.41 and 0.73 dex): the paper's
# picture, slow degradation down to about a thousand spectra and failure below. The paper's
# network (real DR14) at 939 spectra (Teff 53.3 K, log g 0.165 dex against its labels, up from
# 35.0 K and 0.083 dex at 1,879) was already failing at about twice the size at which ours starts
# to (450). Against the ASPCAP-like labels the scatter is larger for every label but log g
# (except at 225 spectra, where the network's own error dominates), because those labels carry
# their own noise (Teff 44.6 K at 7,200, twice the 22.3 K against the truth; the paper's network
# reached 27.1 K against the real DR14 labels at 7,516 spectra: the synthetic labels are noisier
# than the real ones), which also flattens the trend: 44.6 → 50.4 K from 7,200 to 900 spectra,
# where the truth shows 22.3 → 30.8 K. log g is the exception: 0.120 dex against the truth and
# 0.124 against the labels at 7,200 spectra, and at the smaller sizes no larger against the
# labels than against the truth; 0.120 dex is twice the paper's 0.059 (real DR14, against its
# labels) at 7,516 spectra, the synthetic survey's weak log g signal rather than label noise (see
# the log g discussion in `Inference_highSNR.ipynb`). The replicates show how much one training
# varies: at 450 spectra the two networks reach Teff 58 and 35 K.

# %% [markdown]
# ## Scatter versus training-set size
#
# All panels share one x-axis, from our smallest set (225) to the paper's largest (30,067).

# %%
fig = figs.scatter_vs_size(vs_aspcap, vs_truth,
                           replicates_truth=small_data.replicate_scatter(runs, "truth"))
save(fig, "small_data_scatter_vs_size", P)

# %% [markdown]
# **Verdict.** In every panel the red curve (against the truth) falls with the training-set
# size, steeply below 900 spectra and more slowly above, except [Mg/H], which rises steadily
# from 7,200 spectra down (0.018 → 0.062 dex at 900). The blue curve (against the ASPCAP-like
# labels) lies above it by the labels' noise and is flatter above 900 spectra, like the paper's
# grey squares (also against labels); for log g the two curves coincide. The paper's points
# (real DR14) reach 30,067 spectra. Where the two overlap, the paper's scatter against its labels
# is close to ours against the truth for Teff (27.1, 28.3 and 35.0 K at 7,516, 3,758 and 1,879
# spectra, against our 22.3, 26.1 and 29.1 K at 7,200, 3,600 and 1,800) and [Fe/H] (0.022, 0.021
# and 0.029 against our 0.017, 0.021 and 0.029 dex), and half of ours or less for log g (0.059,
# 0.058 and 0.083 against our 0.120, 0.146 and 0.197 dex). At 939 spectra the paper's Teff (53 K)
# is well above ours at 900 against the truth (31 K) and about ours against the ASPCAP-like labels
# (50 K). [Na/H] against the truth flattens at 0.061 dex from 3,600 spectra up: with its few
# lines the Na branch reaches its floor early. The one upward step, [Mg/H] at 900 above 450
# spectra (0.062 against 0.058 dex), is within the replicates' spread at those sizes (0.056–0.068
# dex at 900, 0.050–0.066 dex at 450).
#
# ## Does the scatter grow as the training set shrinks? A test that can fail
#
# Two networks trained on different random subsets of the same size do not reach the same
# scatter: the subset, the initial weights and the dropout masks all differ. This *training
# noise* is measured first, from the replicates. The test is then Spearman's rank correlation
# between training-set size and scatter against the truth over **every network** (the full-set
# network and both replicates of each smaller size), per label, with a one-sided permutation
# p-value for "the scatter falls as the set grows". It passes (`decreasing`) when p < 0.05; a
# flat or noisy relation fails it (see `tests/test_small_data.py`, where a zigzag that a tolerant
# per-step check would accept fails). It is run on all sizes and again on the sizes of 900 and
# more, where the curve is flattest and the test hardest.

# %%
n_test = len(runs[0].pred["mean"])
noise = small_data.training_noise(runs, "truth")
noise_big = small_data.training_noise(runs, "truth", min_size=1800)
if noise is not None:
    print("training noise: relative standard deviation of one network's scatter against the truth")
    print(noise.to_frame("all sizes").join(noise_big.rename(">= 1,800 spectra"))
          .loc[shown].round(3).T.to_string())
print(f"(test-set sampling noise of one scatter over {n_test:,} stars: "
      f"{small_data.scatter_rel_error(n_test):.1%})")
trend_all = small_data.size_trend(runs, "truth", shown)
trend_big = small_data.size_trend(runs, "truth", shown, min_size=900)
print("\nSpearman rank correlation of training-set size and scatter against the truth:")
print(trend_all.join(trend_big, rsuffix=" (>= 900)").round({"rho": 2, "p": 5, "rho (>= 900)": 2,
                                                            "p (>= 900)": 5}).to_string())

# %% [markdown]
# **Verdict.** One network's scatter against the truth varies from one training to the next
# by 11–39 % (relative standard deviation, pooled over all sizes with two replicates) and by
# 2–26 % at 1,800 spectra and more (8–12 % for half of the labels; only two replicates at each
# of two sizes, so these are rough). That is mostly well above the 2.1 % sampling noise of a
# scatter over 2,999 test stars: the randomness of training, not the test set, limits the
# comparison of two sizes (Fe and Al at 1,800 spectra and more, 1.9 % and 1.7 %, are the
# exceptions). Over all 11 networks the rank test passes for every label shown: ρ lies between
# −0.88 (Ca, p = 0.0004) and −0.97 (log g), and p is 0.00005, the smallest the permutations can
# give, for six of the ten labels. Restricted to the 7 networks with at least 900 spectra, where
# the curves are flattest, ρ lies between −0.68 and −0.97 (Mg, Si and Al, p = 0.0015), and the
# test passes for nine labels but fails for Ni (ρ = −0.68, p = 0.053): its scatter at 1,800 and
# 900 spectra (0.039 and 0.038 dex, means of the replicates) cannot be told apart. Since this
# test fails on a flat or zigzag relation, its passing is evidence: **the scatter grows as the
# training set shrinks**, for every label shown, beyond the training noise, and already between
# 7,200 and 900 spectra for every label but Ni.
#
# ## Halving the full training set: 7,200 → 3,600 against the paper's 30,067 → 15,033

# %%
pub = paper.results()["small_data"]
halving = small_data.halving_table(vs_aspcap, vs_truth, pub, shown)
big, half = halving.attrs["sizes"]
print(f"scatter at {big:,} and {half:,} training spectra (mean of the replicates) against the truth "
      f"and against the ASPCAP-like labels, the ratio half / full of each, and the paper's ratio "
      f"at its first and its third halving:")
cols = {"truth_big": f"truth {big:,}", "truth_half": f"truth {half:,}", "ratio_truth": "ratio",
        "aspcap_big": f"labels {big:,}", "aspcap_half": f"labels {half:,}",
        "ratio_aspcap": "ratio ", "paper_30067_15033": "paper 30,067->15,033",
        "paper_7516_3758": "paper 7,516->3,758"}
print(halving[list(cols)].astype(float).rename(columns=cols).round(3).to_string())

# %% [markdown]
# **Verdict.** Halving our training set from 7,200 to 3,600 spectra more than doubles the Mg
# scatter against the truth (0.018 → 0.040 dex, ratio 2.18; the two 3,600-spectra networks
# reach 0.039 and 0.040), where the paper's first halving (real DR14, against its labels),
# 30,067 → 15,033, raised its Mg scatter only from 0.023 to 0.025 dex (ratio 1.09). Three things
# explain the difference, none of them a fault of the networks:
#
# 1. **The two halvings are not at the same place on the curve.** Ours starts from 7,200
#    spectra, where the paper's own curve is already rising: its halving 7,516 → 3,758 raised
#    Mg from 0.027 to 0.032 dex (ratio 1.19). At 30,067 the paper was on its plateau.
# 2. **The paper measured against ASPCAP's labels, whose noise hides the network's gain.** The
#    scatter against labels adds the labels' own error in quadrature. Against our ASPCAP-like
#    labels the same halving gives 0.040 → 0.053 dex, a ratio of 1.32 instead of 2.18, much closer
#    to the paper's 1.19 at the same place on its curve: a label noise of 0.036 dex
#    (√(0.040² − 0.018²)) added to 0.018 and to 0.040 gives back the measured 0.040 and 0.053
#    to within rounding. Against the truth there is no such floor, and the network's own error
#    shows in full.
# 3. **One network at 7,200 spectra.** The full-set value comes from a single network; with
#    a training noise of 3.6–11.5 % for Mg it may be somewhat lucky, but both 3,600-spectra
#    networks are more than twice as high, far outside that noise.
#
# Fe, with many more lines than Mg, degrades less (0.017 → 0.021 dex, ratio 1.23, against the
# paper's 1.06): an element with few lines needs more training spectra to average its weak
# signal. Na and Co, with fewer lines still, do not change at all (ratio 0.995 and 1.01), having
# reached their floor already at 3,600 spectra.

# %%
_ = results.write("Small_Data", {
    "n_train": list(vs_aspcap.index), "n_test": n_test,
    "replicates": P.small_data_replicates,
    "scatter_vs_aspcap": vs_aspcap.to_dict(orient="list"),
    "scatter_vs_truth": vs_truth.to_dict(orient="list"),
    "training_noise_vs_truth": None if noise is None else noise.to_dict(),
    "size_trend_vs_truth": trend_all.to_dict(orient="index"),
    "size_trend_vs_truth_min900": trend_big.to_dict(orient="index"),
    "halving": halving.astype(float).to_dict(orient="index"),
}, P)

# %% [markdown]
# ## What this shows
#
# * Against the truth the scatter grows slowly from 7,200 to 900 training spectra (Teff 22 →
#   31 K, [Fe/H] 0.017 → 0.031 dex) and breaks down below (Teff 134 K at 225 spectra): the
#   paper's picture (real DR14), where the breakdown came one halving earlier, at 939 spectra.
# * The randomness of training moves one network's scatter by 2–26 % (1,800 spectra and more)
#   and up to 39 % over all sizes, mostly well above the 2.1 % test-set sampling noise: replicate
#   networks are needed to compare sizes.
# * A Spearman rank test over all 11 networks, which fails on flat or noisy data, passes for
#   every label shown (ρ ≤ −0.88, p ≤ 0.0004); on the 7 networks with 900 spectra or more it
#   passes for every label but Ni (p = 0.053): the scatter does grow as the set shrinks.
# * Halving 7,200 → 3,600 raises the Mg scatter against the truth 2.2-fold (0.018 → 0.040 dex)
#   against the paper's 0.023 → 0.025 at 30,067 → 15,033 (real DR14, against its labels);
#   against the ASPCAP-like labels the same halving gives 0.040 → 0.053 (×1.32), and the
#   paper's own halving at our size gave ×1.19: label noise and the place on the curve explain
#   the difference.
# * Precision still improves with more training spectra at 7,200: the `default` profile's
#   networks are limited by their training-set size; the `paper` profile trains on every
#   spectrum the paper's cuts select.
