# %% [markdown]
# # How much training data does the network need?
#
# Leung & Bovy (2019, sect. 5.6) retrain the censored network on random halves, quarters, ... of
# the training set, down to ~1000 spectra, and find that the precision degrades slowly down to a
# few thousand spectra and quickly below: a network of this size (~3.5 M parameters, most in the
# element branches) needs thousands of high-SNR spectra, but not the full survey.
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
# On the `default` profile the full set is 7,200 training spectra (plus 800 for validation),
# and the fractions ½ to 1/32 give 3,600, 1,800, 900, 450 and 225, two networks each: eleven
# networks in all, each trained for the paper's 60 epochs and scored on the same 3,000 test
# stars. The paper went from 30,067 down to 939, one network per size.

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
# **Verdict.** Against the truth the scatter grows slowly from 7,200 down to 900 training
# spectra (Teff 21.8 → 31.7 K, [Fe/H] 0.018 → 0.035 dex, log g 0.120 → 0.249 dex) and breaks
# down below (Teff 46 K at 450 and 134 K at 225 spectra; log g 0.41 and 0.73 dex): the paper's
# picture, slow degradation down to about a thousand spectra and failure below. The paper's
# network at 939 spectra (Teff 53.3 K, log g 0.165 dex against its labels) was already
# failing at about twice the size at which ours starts to (450). Against the ASPCAP-like labels
# every number is larger, because those labels carry their own noise (Teff 44.7 K at 7,200,
# twice the 21.8 K against the truth: the synthetic labels are noisier than the real ones),
# which also flattens the trend: 44.7 → 50.9 K from 7,200 to 900 spectra, where the truth
# shows 21.8 → 31.7 K. log g is the exception: 0.120 dex against the truth and 0.125 against
# the labels, twice the paper's 0.059 at 7,516 spectra; that is the synthetic survey's weak
# log g signal, not label noise (see the log g error budget in `Inference_highSNR.ipynb`).
# The replicates show how much one training varies: at 450 spectra the two networks reach
# Teff 57 and 35 K.

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
# size, steeply below ~900 spectra and slowly above; the blue curve (against the ASPCAP-like
# labels) lies above it by the labels' noise and flattens above ~1,000 spectra, as the paper's
# grey squares do. The paper's points reach 4× larger sizes; where the two overlap
# (1,800–7,500 spectra) the paper's scatter against its labels is close to ours against the
# truth for Teff and [Fe/H] (within 6 K and 0.004 dex), and half of ours or less for log g; at 939
# spectra the paper's Teff (53 K) is already well above ours (32 K). [Na/H] against the truth flattens at
# 0.061 dex from 3,600 spectra up: with 13 pixels the Na branch reaches its floor early. The
# one upward step, [Mg/H] at 900 above 450 spectra (0.066 against 0.059 dex), is within the
# replicates' spread at those sizes (0.051–0.067 dex at 450).
#
# ## Does the scatter grow as the training set shrinks? A test that can fail
#
# Two networks trained on different random subsets of the same size do not reach the same
# scatter: the subset, the initial weights and the dropout masks all differ. This *training
# noise* is measured first, from the replicates. The test is then Spearman's rank correlation
# between training-set size and scatter against the truth over **every network** (the 7,200
# network and both replicates of each smaller size: 11 networks), per label, with a one-sided
# permutation p-value for "the scatter falls as the set grows". It passes (`decreasing`) when
# p < 0.05; a flat or noisy relation fails it (see `tests/test_small_data.py`, where a zigzag
# that a per-step tolerance of 40 % would have accepted fails). It is run on all sizes and
# again on the sizes of 900 and more, where the curve is flattest and the test hardest.

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
# 1–27 %, about 9 % for the median label, at 1,800 spectra and more. That is several times
# the 2.1 % sampling noise of a scatter over 3,000 test stars: the randomness of training, not
# the test set, limits the comparison of two sizes. The rank test passes for every label
# shown: over all 11 networks ρ lies between −0.88 and −0.99 with p ≤ 0.0004 (the floor of
# 20,000 permutations is 0.00005); restricted to the 7 networks with at least 900 spectra,
# where the curves are flattest, ρ lies between −0.75 (Ca, p = 0.03) and −0.97 (p = 0.0015)
# and it still passes. Unlike the former per-step check, which allowed a 40–54 % drop at every
# step and could hardly fail, this test fails on a flat or zigzag relation (unit test), so its
# passing is evidence: **the scatter grows as the training set shrinks**, for every label
# shown, beyond the training noise, and already between 7,200 and 900 spectra.
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
# scatter against the truth (0.018 → 0.042 dex, ratio 2.3; the two 3,600-spectra networks
# reach 0.045 and 0.038), where the paper's first halving, 30,067 → 15,033, raised its Mg
# scatter only from 0.023 to 0.025 dex (ratio 1.09). Three things explain the difference,
# none of them a fault of the networks:
#
# 1. **The two halvings are not at the same place on the curve.** Ours starts from 7,200
#    spectra, where the paper's own curve is already rising: its halving 7,516 → 3,758 raised
#    Mg from 0.027 to 0.032 dex (ratio 1.19). At 30,067 the paper was on its plateau.
# 2. **The paper measured against ASPCAP's labels, whose noise hides the network's gain.** The
#    scatter against labels adds the labels' own error in quadrature. Against our ASPCAP-like
#    labels the same halving gives 0.040 → 0.055 dex, a ratio of 1.39 instead of 2.3: a label
#    noise of 0.036 dex (√(0.040² − 0.018²)) added to 0.018 and to 0.042 gives back 0.040
#    and 0.055. Against the truth there is no such floor, and the network's own error shows in
#    full.
# 3. **One network at 7,200 spectra.** The full-set value comes from a single network; with
#    a training noise of 9–11 % for Mg it may be somewhat lucky, but both 3,600-spectra
#    networks are 2.1–2.5 times above it, far outside that noise.
#
# Mg's branch sees 106 pixels; Fe's, with 2,403, degrades less (0.018 → 0.022 dex, ratio 1.22,
# against the paper's 1.06): an element with few lines needs more training spectra to average
# its weak signal. Na and Co (13 and 24 pixels) do not change at all (ratio 1.00 and 1.01),
# having reached their floor already at 3,600 spectra.

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
#   32 K, [Fe/H] 0.018 → 0.035 dex) and breaks down below (Teff 134 K at 225 spectra), the
#   paper's picture at 4× smaller sizes.
# * The randomness of training moves one network's scatter by about 9 % (median label, 1,800
#   spectra and more) and up to 39 % at small sizes, several times the 2.1 % test-set sampling
#   noise: replicate networks are needed to compare sizes.
# * A Spearman rank test over all 11 networks, which fails on flat or noisy data, passes for
#   every label shown (ρ ≤ −0.88, p ≤ 0.0004), and still passes on the 7 networks with 900
#   spectra or more: the scatter does grow as the set shrinks.
# * Halving 7,200 → 3,600 raises the Mg scatter against the truth 2.3-fold (0.018 → 0.042 dex)
#   against the paper's 0.023 → 0.025 at 30,067 → 15,033; against the labels the same halving
#   gives 0.040 → 0.055 (×1.39), and the paper's own halving at our size gave ×1.19: label
#   noise and the place on the curve explain the difference.
# * Precision still improves with more training spectra at 7,200: the `default` profile's
#   networks are limited by their training-set size, which the `paper` profile (30,067
#   spectra) lifts.
