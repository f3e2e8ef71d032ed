# %% [markdown]
# # The censored network on the high-SNR test set
#
# Leung & Bovy (2019, sect. 5.1) apply the trained censored network (`ApogeeBCNNCensored`,
# `astroNN_0617_run001`) to the **high-SNR test set**: stars in the same Teff range as the
# training set (4000–5500 K) but with 100 < SNR < 200, so none of them was seen in training.
# They report, for each of the 22 labels, the **bias** (median residual) and **scatter**
# (`mad_std` of the residuals) against the ASPCAP labels, how the error and the network's own
# uncertainty vary with Teff, log g and [X/H], and — to show that each abundance is read from
# that element's own lines — the **Jacobian** of the network: the derivative of each output
# label with respect to each input pixel.
#
# The synthetic survey lets us go further, because we know the **true labels**:
#
# * the scatter against the *truth*, next to the scatter of the ASPCAP-like labels themselves
#   about the truth: a network trained on noisy labels can be closer to the truth than the labels
#   it learned from, because it averages their noise over many similar stars;
# * the Jacobian against the **true derivative of the forward model**: where an element's
#   abundance really changes the spectrum;
# * whether astroNN's uncertainty (variance over MC-dropout passes + predicted aleatoric
#   variance) is *calibrated*, and a per-label rescaling, fitted on the validation set using
#   only what real data has (the ASPCAP labels and their reported errors), that makes it so;
# * how the uncertainty grows for stars **outside the training box** (hot stars, dwarfs,
#   very metal-poor stars).
#
# astroNN's raw uncertainty (the paper's) is kept everywhere; the calibrated one is an addition.

# %% tags=["parameters"]
profile = None

# %%

import numpy as np
import pandas as pd

from astronn_paper import apogee, config, dataset, paper
from astronn_paper.analysis import inference_highsnr as highsnr, isochrones, metrics
from astronn_paper.model import predictions
from astronn_paper.analysis import results
from astronn_paper.survey import open_source
from astronn_paper.model import train
from astronn_paper.figures import inference_highsnr as figs
from astronn_paper.figures import save
from astronn_paper.synth import population

pd.set_option("display.precision", 3)
pd.set_option("display.width", 160)
P = config.get_profile(profile)
T = list(apogee.TARGETS)
sets = dataset.build_standard_sets(P)
censored = train.ensure_model("censored", P, sets["train"])
test = predictions.predict_set(censored, sets["test"], profile=P)
ref = highsnr.load_labels(sets["test"])
synthetic = ref["truth"] is not None
print(f"profile {P.name}: {censored.name}, {P.mc_passes} MC-dropout passes; "
      f"high-SNR test set: {len(test['mean'])} stars, median SNR {np.median(ref['snr']):.1f} "
      f"(paper: 28,692 stars, median SNR 140.9); truth available: {synthetic}")

# %% [markdown]
# The synthetic high-SNR test set has 3000 stars, a tenth of the paper's 28,692, with the same
# median SNR (140.6 against 140.9), so per-label statistics below are measured to a few per cent
# and the SNR regime is the paper's. The synthetic truth is available for every star.
#
# ## Bias and scatter of the 22 labels
#
# `metrics.bias_scatter_table`: bias = median(network − reference) and scatter =
# `mad_std(network − reference)`, over the stars whose reference label is not −9999 (the
# paper's definition). Columns: against the ASPCAP-like labels (`n_aspcap` stars have one),
# against the truth, the ASPCAP-like labels' own scatter about the truth, and the paper's
# published scatter. The paper's table for the censored network on continuum-normalised
# spectra is measured on the individual visits of its training stars (its high-SNR test-set
# numbers were published for the full-spectrum network and for ASPCAP-normalised spectra); we
# put that column beside ours as the closest published reference.

# %%
published = paper.scatter("censored_visits_of_training_stars")
table = metrics.bias_scatter_table(test["mean"], ref["aspcap"], ref["truth"], targets=T, paper=published)
print(table.to_string(float_format=lambda v: f"{v:.4g}"))
fig = figs.scatter_table(table)
save(fig, "inference_highsnr_scatter_table", P)

# %% [markdown]
# In the figure, for each label: the network's scatter against the ASPCAP-like labels (blue
# circles), against the truth (green squares), the labels' own scatter about the truth (grey
# crosses) and the paper's published scatter (red stars). Blue sits above red for every label,
# and grey nearly reaches blue for the abundances: the labels' noise sets the blue points. The next
# cell takes the scatter apart.

# %%
if synthetic:
    closer = table["scatter_truth"] < table["aspcap_scatter_truth"]
    print(f"the network is closer to the truth than the ASPCAP-like labels it was trained on for "
          f"{closer.sum()} of {len(T)} labels; the exception: {', '.join(closer.index[~closer]) or 'none'}")
    budget = highsnr.noise_budget(table)
    print("scatter against the ASPCAP-like labels, taken apart (Teff in K, the rest in dex):")
    print(budget.to_string(float_format=lambda v: f"{v:.3g}"))
    abund = list(apogee.ABUNDANCES)
    print(f"ratio to the paper: {budget['ratio_to_paper'].min():.2f}-{budget['ratio_to_paper'].max():.2f} "
          f"(median {budget['ratio_to_paper'].median():.2f}); quadrature / observed: "
          f"{(budget['quadrature'] / budget['scatter_aspcap']).min():.2f}-"
          f"{(budget['quadrature'] / budget['scatter_aspcap']).max():.2f}; network vs truth at or below the "
          f"paper's scatter for {(budget['truth_to_paper'] <= 1).sum()} of {len(T)} labels")

# %% [markdown]
# **Verdict.** The biases against the ASPCAP-like labels are negligible (Teff −1.7 K, every other
# label within ±0.01 dex), as in the paper. The scatter against those labels is **1.5-2.6 times the
# paper's** (Teff 44.7 K against 23.6 K, [Fe/H] 0.031 against 0.018, [Co/H] 0.181 against 0.077),
# and the reason is the synthetic labels, not the network: the ASPCAP-like labels themselves scatter
# about the truth by 34.9 K in Teff, 0.023 dex in [Fe/H], 0.16 dex in [P/H] and 0.17-0.18 dex in
# [Na/H], [Ti II/H] and [Co/H]: on their own as large as or larger than the paper's whole
# network-minus-ASPCAP scatter (23.6 K, 0.018, 0.095, 0.117, 0.092, 0.077). Adding the labels'
# scatter and the network's scatter about the truth in quadrature reproduces the observed scatter
# against the labels to within 8 % for every label, so the two errors are independent and the
# labels' noise dominates. Against the **truth** the network is at or below the paper's published
# scatter for 14 of the 22 labels (Teff 21.8 K against 23.6 K, [Fe/H] 0.018 against 0.018, [Mg/H]
# 0.018 against 0.023) and within 0.015 dex of it for the other seven abundances (C, C I, N, S, K, Cr, Mn); it is
# closer to the truth than the labels it learned from for 21 of 22 labels, since it averages the
# label noise over many similar stars. The exception is **log g** (0.120 dex against the truth,
# 2.5 times the paper's 0.048 and twice the labels' own 0.062), taken apart below.

# %% [markdown]
# ## Error and uncertainty versus Teff and log g
#
# The paper's figure: the median |network − ASPCAP| in bins of the reference Teff and log g, with
# the mean total uncertainty (MC-dropout variance + predicted variance) and the mean model
# (MC-dropout only) uncertainty of the same stars. The error grows towards the hot end of the
# training box (5400–5500 K), where training stars are sparse and lines are weaker, and the
# predicted uncertainty grows with it. (Numbers of stars per bin at the bottom of each panel.)

# %%
teff_bins = np.arange(4000, 5501, 250)
logg_bins = np.arange(0.5, 4.01, 0.5)
minc = 3 if P.name == "ci" else 10
refs = {"ASPCAP-like labels": ref["aspcap"]} | ({"truth": ref["truth"]} if synthetic else {})
binned = {}
for name, r in refs.items():
    x_teff = np.where(r[:, 0] == apogee.MISSING, np.nan, r[:, 0])
    x_logg = np.where(r[:, 1] == apogee.MISSING, np.nan, r[:, 1])
    by_teff = highsnr.binned_errors(x_teff, test["mean"], r, test["total"], test["model"], teff_bins, T, minc)
    by_logg = highsnr.binned_errors(x_logg, test["mean"], r, test["total"], test["model"], logg_bins, T, minc)
    binned[name] = (by_teff, by_logg)
    fig = figs.errors_vs_teff_logg(by_teff, by_logg, ("teff", "logg", "Fe"), reference=name)
    save(fig, f"inference_highsnr_errors_teff_logg_{'truth' if name == 'truth' else 'aspcap'}", P)

# %% [markdown]
# The first figure is measured against the ASPCAP-like labels (the paper's figure), the second
# against the truth. In both, the total uncertainty (blue) lies above the median |error| (black)
# in every bin, and both rise together at the cool and the hot edge of the box and at low log g;
# the per-bin numbers for Teff follow.

# %%
by_teff = binned["ASPCAP-like labels"][0]
print("Teff: median |network - ASPCAP| (K) and mean total uncertainty (K) per Teff bin")
print(pd.DataFrame({"Teff bin centre": by_teff.centers, "n": by_teff.count[:, 0],
                    "median |error|": by_teff.median_abs_error[:, 0],
                    "mean total unc.": by_teff.mean_total[:, 0]}).round(1).to_string(index=False))

# %% [markdown]
# **Verdict.** The Teff error against the labels is 26-30 K between 4500 and 5250 K and grows to
# 38 K in the coolest bin and 70 K in the hottest (5250-5500 K, 203 stars). The paper's figure has
# the same shape, from ~12 K at 4000-4800 K to ~90 K at 5400-5500 K; our floor is higher because
# the labels carry 35 K of noise (the paper's ASPCAP labels evidently less). The network's total uncertainty grows with it (51-53 K in the middle, 148 K at the hot
# end), so it does signal where it is less reliable. It is also conservative everywhere: a median
# |error| of 26 K corresponds to a Gaussian σ of about 39 K (median |error| = 0.674 σ), below the
# 51 K predicted, which the calibration section below quantifies (raw robust std of z 0.62 for Teff).
# Most of the median |error| here is the labels' own 35 K noise, as the truth panel shows
# (smaller errors, same uncertainties).

# %% [markdown]
# ## The 20 abundances: errors in Teff bins and in [X/H] bins
#
# Each abundance's median |network − ASPCAP| with the network's mean uncertainties, first in bins of
# Teff, then in bins of that element's own [X/H]. Weak lines (Na, P, S, V, Co, Ti II) give larger
# errors everywhere; all abundances degrade at the hot end and at low metallicity, where their
# lines weaken.

# %%
ref_key = "truth" if synthetic else "ASPCAP-like labels"
weak = ["Na", "P", "Ti2", "V", "Co", "Mg", "Fe"]
lab_err = highsnr.median_label_error(refs["ASPCAP-like labels"][:, 0], ref["aspcap"], ref["aspcap_err"], teff_bins)
rows_weak = {"labels' reported error": lab_err,
             "|network - labels|": binned["ASPCAP-like labels"][0].median_abs_error}
if synthetic:
    rows_weak["|network - truth|"] = binned["truth"][0].median_abs_error
rows_weak["network total σ"] = binned["ASPCAP-like labels"][0].mean_total
print(f"median values (dex) in the coolest ({teff_bins[0]}-{teff_bins[1]} K) and hottest "
      f"({teff_bins[-2]}-{teff_bins[-1]} K) Teff bins")
print(pd.DataFrame({f"{name}, {edge}": v[i, [T.index(t) for t in weak]] for name, v in rows_weak.items()
                    for i, edge in ((0, "cool"), (-1, "hot"))}, index=weak).round(3).to_string())
fig = figs.abundance_errors(binned["ASPCAP-like labels"][0], r"reference $T_\mathrm{eff}$ (K)",
                            "Abundance errors against the ASPCAP-like labels in bins of Teff")
save(fig, "inference_highsnr_abundance_errors_teff", P)
xh_bins = np.arange(-1.5, 0.76, 0.25)
by_xh = highsnr.binned_errors_by_own_label(test["mean"], refs[ref_key], test["total"], test["model"],
                                           xh_bins, apogee.ABUNDANCES, T, minc)
fig = figs.abundance_errors(by_xh, "[X/H]", f"Abundance errors against the {ref_key} in bins of [X/H]")
save(fig, "inference_highsnr_abundance_errors_xh", P)

# %% [markdown]
# **Verdict.** The weak-line elements (Na, P, Ti II, V, Co) have median errors against the labels
# that triple from the cool to the hot end of the box (e.g. [Co/H] 0.07 to 0.26 dex) while the
# network's uncertainty stays flat at 0.05-0.10 dex. That is the synthetic labels: their reported
# errors grow four- to fivefold over the same range (0.05-0.08 to 0.25-0.37 dex), as ASPCAP's do
# for weak lines in hotter stars, and against the **truth** the network's error in the hot bin is
# 0.035-0.13 dex, at most half its error against the labels ([Co/H] 0.11 against 0.26, [Ti II/H]
# 0.035 against 0.22). The network's uncertainty estimates the error against the truth,
# not against noisy labels; the calibration section adds the labels' own errors for that reason.
# In bins of each element's own [X/H] (second figure, against the truth) the uncertainty grows
# four- to sixfold from solar to [X/H] ≈ −1.4 for every element (weaker lines, few training
# stars), but the error grows much less: for Mg, Si and Ca it stays at 0.02-0.04 dex, and only Na,
# P, Co and Mn reach 0.12-0.18 dex. At low metallicity the network is over-cautious for the
# strong-line elements and about right for the weakest.

# %% [markdown]
# ## Kiel diagram
#
# The network's Teff and log g of the test stars, coloured by its [Fe/H]. Overlaid, giant branches
# for [M/H] = −1.75, −0.75, −0.25, +0.25: on the synthetic survey these are the tracks the
# population was drawn from (a fit to PARSEC v1.2S 5 Gyr isochrones, `synth.population.rgb_teff`);
# on real data, point `isochrone_files` (below) at PARSEC tables from the CMD web interface, read
# by `isochrones.read_parsec` (format documented there). A network that learned the physics puts
# metal-poor stars on the hotter branches. On synthetic data the right panel shows the true labels.

# %%
isochrone_files = []  # e.g. sorted(Path("my_isochrones").glob("*.dat")) for real data
logg_grid = np.linspace(0.5, 3.6, 60)
if isochrone_files:
    tracks = []
    for f in isochrone_files:
        iso = isochrones.read_parsec(f)
        t_gb, g_gb = isochrones.giant_branch(iso)
        tracks.append((f"[M/H] = {np.median(iso['mh']):+.2f}", t_gb, g_gb))
else:
    tracks = [(f"[M/H] = {mh:+.2f}", population.rgb_teff(logg_grid, mh), logg_grid) for mh in population.RC_MH]
truth_kiel = None if not synthetic else (ref["truth"][:, 0], ref["truth"][:, 1], ref["truth"][:, T.index("Fe")])
fig = figs.kiel_diagram(test["mean"][:, 0], test["mean"][:, 1], test["mean"][:, T.index("Fe")], tracks,
                        reference=truth_kiel)
save(fig, "inference_highsnr_kiel", P)

# %% [markdown]
# The log g axis reaches 5.5 so that the test set's dwarfs show (the sequence at log g 4.3-4.8:
# the training box has no log g cut, as in the paper). Two things differ between the panels: the
# network's metal-poor giants ([Fe/H] < −1, dark) gather in a clump at 5000-5300 K and log g 2.1-3.2,
# whereas the true ones spread along the metal-poor branch from log g 0.6 to 3.6 and over a
# horizontal-branch clump at 5200-5500 K. The next cell measures this.

# %%
if synthetic:
    fe = T.index("Fe")
    train_truth = highsnr.load_labels(sets["train"])["truth"]
    poor, poor_train = ref["truth"][:, fe] < -1, train_truth[:, fe] < -1
    dwarf = ref["truth"][:, 1] > 3.8
    shrink = {"[Fe/H] < −1": highsnr.shrinkage(test["mean"], ref["truth"], poor),
              "[Fe/H] ≥ −1 giants": highsnr.shrinkage(test["mean"], ref["truth"], ~poor & ~dwarf)}
    print(f"training set: {poor_train.sum()} of {len(poor_train)} stars ({100 * poor_train.mean():.1f} %) have true "
          f"[Fe/H] < −1; their median true Teff {np.median(train_truth[poor_train, 0]):.0f} K, log g "
          f"{np.median(train_truth[poor_train, 1]):.2f}")
    print(f"test set: {poor.sum()} stars with [Fe/H] < −1; median predicted Teff {np.median(test['mean'][poor, 0]):.0f} K, "
          f"log g {np.median(test['mean'][poor, 1]):.2f} (true: {np.median(ref['truth'][poor, 0]):.0f} K, "
          f"{np.median(ref['truth'][poor, 1]):.2f})")
    for name, sh in shrink.items():
        print(f"  {name}: slope predicted-on-true Teff {sh[0]['slope']:.2f}, log g {sh[1]['slope']:.2f}; "
              f"16-84 % width of log g predicted {sh[1]['width_pred']:.2f} vs true {sh[1]['width_true']:.2f}")
    clump = lambda t, g: (t > 5000) & (t < 5300) & (g > 2.1) & (g < 3.2)  # noqa: E731
    print(f"  share of the metal-poor stars inside 5000-5300 K, log g 2.1-3.2: predicted "
          f"{100 * clump(test['mean'][poor, 0], test['mean'][poor, 1]).mean():.0f} %, true "
          f"{100 * clump(ref['truth'][poor, 0], ref['truth'][poor, 1]).mean():.0f} %")
    print(f"  median total σ: Teff {np.median(test['total'][poor, 0]):.0f} K vs {np.median(test['total'][~poor, 0]):.0f} K "
          f"for the rest, log g {np.median(test['total'][poor, 1]):.2f} vs {np.median(test['total'][~poor, 1]):.2f} dex")
    print(f"dwarfs (true log g > 3.8): {dwarf.sum()} test stars, {(train_truth[:, 1] > 3.8).sum()} training stars; "
          f"log g bias {np.median(test['mean'][dwarf, 1] - ref['truth'][dwarf, 1]):+.3f}, scatter "
          f"{metrics.robust_std(test['mean'][dwarf, 1] - ref['truth'][dwarf, 1]):.3f} dex")

# %% [markdown]
# **Verdict.** The metal-poor clump is the network falling back on its prior. Only 244 of the
# 8000 training stars (3.0 %) have [Fe/H] < −1, and their spectra have the weakest lines, so they
# carry little information on Teff and log g. Trained with a Gaussian likelihood, the network then
# returns close to the mean of the similar training stars: the 162 metal-poor test stars come out at
# a median of 5097 K and log g 2.54, near the metal-poor training stars' centroid (5177 K, 2.45)
# and their own true median (5230 K, 2.52). What collapses is the spread: their predicted log g
# follows the true one with a slope of only 0.22 (0.89 for the other giants; Teff 0.47 against
# 0.95), its 16-84 % range shrinks from 1.33 to 0.54 dex, and 70 % of the stars land inside
# 5000-5300 K, log g 2.1-3.2 against 33 % of their true labels. The network knows: its Teff uncertainty for these stars is 269 K against 55 K for the
# rest, and its log g uncertainty 0.75 against 0.19 dex. Our training set has 8000 stars against
# the paper's 33,407, so this corner holds only a few hundred training stars; the paper does not
# show its metal-poor giants separately. The 464 dwarfs of the test set, by contrast, are well
# placed (log g bias −0.09 dex, scatter 0.10 dex): 683 training stars (8.5 %) are dwarfs.

# %% [markdown]
# ## Where the log g error comes from
#
# Against the truth, log g is the label the network reproduces worst relative to the paper. The
# synthetic survey lets us take that error apart (`highsnr.error_budget`), star group by star
# group, with the stellar kind the population drew (`highsnr.truth_columns`):
#
# * **the labels' own systematics.** Like real ASPCAP, whose red-clump and giant-branch stars
#   needed different gravity calibrations in DR14, the ASPCAP-like log g of red-clump stars is
#   offset from the truth (`synth.catalog._measure`, +0.05 dex). The network learns what it is
#   taught, and no amount of training removes that offset, since the truth never enters the
#   training;
# * **red clump or giant branch?** At the same Teff and metallicity the two differ by ~0.5 dex
#   in log g and their spectra differ only subtly; a network that hesitates between the two
#   pulls them towards each other (the left panel's tilt);
# * **metal-poor stars** ([Fe/H] < −1) are a few per cent of the training set and have the
#   weakest lines: their scatter is several times the others'.
#
# The scatter *within* the metal-rich red-clump and giant-branch groups is the network's
# precision proper.

# %%
logg_budget = None
if synthetic:
    kinds = highsnr.truth_columns(sets["test"], ["kind"], open_source(profile=P))["kind"]
    fe_true = ref["truth"][:, T.index("Fe")]
    groups = {"red clump, [Fe/H] ≥ −1": (kinds == "rc") & (fe_true >= -1),
              "giant branch, [Fe/H] ≥ −1": (kinds == "rgb") & (fe_true >= -1),
              "[Fe/H] < −1": fe_true < -1}
    logg_budget = highsnr.error_budget(test["mean"], ref["aspcap"], ref["truth"], groups,
                                       column=T.index("logg"))
    print("log g (dex): bias = median, scatter = mad_std; 'labels' = the ASPCAP-like training labels")
    print(logg_budget.round(3).to_string())
    rc, rgb = groups["red clump, [Fe/H] ≥ −1"], groups["giant branch, [Fe/H] ≥ −1"]
    lo, hi = np.percentile(ref["truth"][rc, 0], [16, 84])
    rgb_same = rgb & (ref["truth"][:, 0] > lo) & (ref["truth"][:, 0] < hi)
    print(f"at the red clump's Teff ({lo:.0f}-{hi:.0f} K, 16-84 %): median true log g red clump "
          f"{np.median(ref['truth'][rc, 1]):.2f}, giant branch {np.median(ref['truth'][rgb_same, 1]):.2f} "
          f"({rgb_same.sum()} stars); predicted {np.median(test['mean'][rc, 1]):.2f} and "
          f"{np.median(test['mean'][rgb_same, 1]):.2f}")
    label_res = np.where(ref["aspcap"][:, 1] == apogee.MISSING, apogee.MISSING,
                         ref["aspcap"][:, 1] - ref["truth"][:, 1])
    fig = figs.logg_residuals(ref["truth"][:, 1], test["mean"][:, 1] - ref["truth"][:, 1], label_res, groups)
    save(fig, "inference_highsnr_logg_budget", P)

# %% [markdown]
# **Verdict.** The red-clump bias of the network against the truth is **+0.106 dex, twice the
# labels' +0.050**: it does not simply follow the labels. The network is +0.061 dex off the labels
# themselves for the red clump and −0.025 dex for the giant branch, i.e. on top of the labels'
# offset it pulls the two groups towards each other. At the red clump's Teff (4650-4980 K) the
# giant-branch stars have a true log g of 2.97 against the clump's 2.42; the network places the
# clump at 2.53 and those giant-branch stars at 2.92, a compromise that costs the clump (784 stars)
# more than the giant branch (1564, twice as many, so the pull on them is smaller). Within each group
# the scatter against the truth is 0.079-0.080 dex, above both the labels' own 0.052-0.053 dex and
# the paper's 0.048 dex against ASPCAP: log g is this network's weakest label on the synthetic
# survey (the response test at the end finds that it passes on only 0.67 of a true log g change).
# The 162 metal-poor stars, with a scatter of 0.571 dex, are the prior-dominated clump of the Kiel
# diagram. Together these three effects make the overall 0.120 dex.

# %% [markdown]
# ## The Jacobian: where in the spectrum does each abundance come from?
#
# `metrics.jacobian` differentiates the network's predicted labels (dropout off, so the network is
# deterministic) with respect to the 7514 input pixels with TensorFlow's `GradientTape`, in label
# units per unit of normalised flux, for a random subset of test stars, and takes the median over
# stars. For each element the **window concentration** is the fraction of the Jacobian's squared
# norm inside that element's ASPCAP windows. On the synthetic survey the red curve is the true
# derivative of the forward model with respect to the element's abundance at the median test star
# (rendered with `synth.spectra.render` at ±0.05 dex and continuum-normalised like the data), and
# `corr` is the Pearson correlation between the two curves over all pixels. Both should be
# negative in the element's lines: more of the element makes its lines deeper (less flux), so a
# network that reads those lines answers a lower flux with a higher abundance. A correlation near
# +1 means the network's sensitivity follows the physics pixel by pixel.

# %%
n_jac = 24 if P.name == "ci" else 200
rng = np.random.default_rng(config.seed_for("highsnr:jacobian", P))
jac_rows = np.sort(rng.choice(len(test["mean"]), size=min(n_jac, len(test["mean"])), replace=False))
x_jac = dataset.load(sets["test"], rows=jac_rows)[0]
model = predictions.load_model(censored)
jac = metrics.jacobian(model, x_jac, targets=T)           # (22, 7514), median over stars
windows = apogee.aspcap_windows()
concentration = metrics.window_concentrations(jac[2:], apogee.ABUNDANCES, windows)
true_deriv, similarity = None, None
if synthetic:
    star = highsnr.median_star(ref["truth"])
    true_deriv = highsnr.forward_model_derivative(star, apogee.ABUNDANCES)
    similarity = {t: highsnr.profile_similarity(jac[2 + i], true_deriv[i])
                  for i, t in enumerate(apogee.ABUNDANCES)}
    true_concentration = metrics.window_concentrations(true_deriv, apogee.ABUNDANCES, windows)
fig = figs.jacobian_windows(jac[2:], apogee.ABUNDANCES, true_deriv, windows, concentration, similarity)
save(fig, "inference_highsnr_jacobian", P)
jac_table = pd.DataFrame({"window pixels": [int(windows[t].sum()) for t in apogee.ABUNDANCES],
                          "window fraction of spectrum": [windows[t].mean() for t in apogee.ABUNDANCES],
                          "network: in windows": [concentration[t] for t in apogee.ABUNDANCES]},
                         index=apogee.ABUNDANCES)
if synthetic:
    jac_table["forward model: in windows"] = [true_concentration[t] for t in apogee.ABUNDANCES]
    jac_table["corr(network, forward)"] = [similarity[t] for t in apogee.ABUNDANCES]
print(f"Jacobian: median over {len(jac_rows)} test stars")
print(jac_table.round(3).to_string())

# %% [markdown]
# **Verdict.** In the figure each curve is divided by its own maximum (printed per panel with its
# units) and the orange strip marks the element's windows. For C and N the windows cover half the
# spectrum, so "in windows" near 100 % says little; for the elements with small windows it is
# informative. The forward model puts 86-100 % of every metal's derivative inside its windows (S
# 72 %): the windows do contain the physics. The network follows this for Na, P, Mn, Ni, Co, V, Cr
# and K (83-99 %), but **only 2 % (Ti), 10 % (Ca), 15 % (Ti II) and 32 % (Fe) of its sensitivity
# lies inside the element's windows**; for Fe that is no more than the windows' 32 % share of the
# pixels, i.e. no preference at all, and Ti's and Ca's curves correlate with the true derivative
# at only +0.09 and +0.26. The rest comes through the shared trunk: in the censored architecture
# every abundance output adds its window branch to a read-out of the trunk's features, which see
# all 7514 pixels. A Jacobian that lies outside the windows means the output is computed from the
# whole spectrum, i.e. from Teff, log g and the overall metallicity.
#
# The element response test at the end of this notebook measures the consequence: a +0.1 dex change
# of one element alone reaches the output only in part (Fe 0.55, Mg 0.35, Al 0.23, Ca 0.06, Ti 0.02
# of the change at SNR 200), whereas all 20 [X/H] changed together move every output by 0.92-1.19.
# Most abundances are therefore predicted from the metallicity and the correlations of the training
# population, not measured from their own lines, and a concentrated Jacobian (Na 99 %, Co 93 %) is
# necessary but not sufficient (Na's self-response is 0.28, Co's 0.13). The paper read its
# Jacobians as evidence that each abundance comes from its own lines; on this survey, with the
# truth to test against, that holds for only a few elements (N, Fe, and partly O, Ni, C, Mn, Mg).

# %% [markdown]
# ## Are the uncertainties calibrated?
#
# If σ is a good 1-σ uncertainty, z = (prediction − reference)/σ is a unit Gaussian: robust std 1,
# 68 % of stars within 1σ. Against the truth σ is the network's total uncertainty; against the
# ASPCAP-like labels the labels' own reported error is added in quadrature,
# z = (prediction − label)/√(σ² + σ_label²).
#
# **Calibration.** One scale factor s per label, fitted on the **validation set** (the 10 % of
# the training stars held out during training, `validation_index.npy` in the model folder) so
# that (prediction − ASPCAP label)/√((s·σ)² + σ_label²) has unit robust spread (a 1-d root find
# per label, `metrics.fit_calibration_scale`; s ≥ 0, s = 0 when the label errors alone explain
# the residuals). It uses only what real data has, so it works on real data too. It is then
# applied to the test set, and checked against the ASPCAP-like labels and, on synthetic data,
# against the truth. s < 1: astroNN's uncertainty is conservative; s > 1: it under-estimates.

# %%
val_idx = np.load(censored / "validation_index.npy")
val = predictions.predict_set(censored, sets["train"], profile=P, rows=val_idx)
ref_val = highsnr.load_labels(sets["train"], rows=val_idx)
fit = {"pred": val["mean"], "sigma": val["total"], "aspcap": ref_val["aspcap"],
       "aspcap_err": ref_val["aspcap_err"], "truth": ref_val["truth"]}
tst = {"pred": test["mean"], "sigma": test["total"], "aspcap": ref["aspcap"],
       "aspcap_err": ref["aspcap_err"], "truth": ref["truth"]}
cal = highsnr.calibration(fit, tst, T)
spreads = cal.spreads()
z_val = metrics.z_scores(fit["pred"], fit["aspcap"], fit["sigma"], fit["aspcap_err"])
cal_table = pd.DataFrame({"scale s (validation)": cal.scale_aspcap,
                          "raw_vs_aspcap (validation)": metrics.robust_std(z_val)} | spreads, index=T)
if cal.scale_truth is not None:
    cal_table.insert(1, "s vs truth (diagnostic)", cal.scale_truth)
print(f"scales fitted on {len(val_idx)} validation stars; z-score robust std on {len(test['mean'])} test stars")
print(cal_table.round(3).to_string())

# %% [markdown]
# **Verdict.** astroNN's raw uncertainty is **conservative**: against the labels (with their errors
# added) the robust std of z is 0.57 (log g) to 0.99 (Ti II), 0.62 for Teff and 0.61 for [Fe/H],
# so σ is up to 1.8 times too large, as expected from adding the MC-dropout variance to a predicted
# variance that already absorbs the training labels' noise. The scales fitted on the 800
# validation stars are 0.41-1.03 and bring the test set to 0.98-1.06 against the labels. Against the
# truth (which the fit never saw) the calibrated spread is 0.78 (P) to 1.39 (Si): 1.2-1.4 for
# C, N, Si, Ti, V and Co, so the labels' errors, which the fit trusts, are slightly too small
# there. The test spreads are only a little above the validation ones (e.g. Teff 0.62 against 0.55),
# so the uncertainty tracks the drop from SNR > 200 to 100-200 well. The paper does not test the
# calibration of its uncertainties.

# %%
fig = figs.calibration_summary(spreads, T, cal.scale_aspcap)
save(fig, "inference_highsnr_calibration_summary", P)
fig = figs.z_histograms(cal, "truth" if synthetic else "aspcap")
save(fig, "inference_highsnr_z_histograms", P)
fig = figs.reliability(cal)
save(fig, "inference_highsnr_reliability", P)

# %% [markdown]
# The three figures: the robust std of z per label (1 = calibrated, grey band 0.8-1.25); the
# z-histograms against the truth, raw (blue) and calibrated (red) beside a unit Gaussian; and the
# reliability diagram, the observed fraction of stars within k σ against the Gaussian
# expectation, one curve per label coloured by label group, with the three labels farthest from
# the diagonal at 1 σ named in each panel. Calibrated against the labels, all 22 curves lie on the
# diagonal; against the truth they fall below it, most for the weak-line elements ([Co/H] 0.39,
# [Na/H] 0.42, [Ti II/H] 0.43 within 1 σ, against 0.68 expected). The z-histograms show why for
# these: they are **shifted by about +1 σ** (Na, P, Ti II, Co) rather than too wide. The next cell
# measures that shift.

# %%
if synthetic:
    zoff = highsnr.z_offsets(cal.z_cal_truth, test["mean"], ref["truth"], ref["aspcap"],
                             metrics.calibrated_sigma(test["total"], np.where(np.isfinite(cal.scale_aspcap),
                                                                              cal.scale_aspcap, 1.0)), T)
    print("calibrated z against the truth: median z, the network's and the labels' median offset from the truth (dex),")
    print("and the median calibrated σ (dex); labels sorted by |median z|")
    print(zoff.reindex(zoff["median_z"].abs().sort_values(ascending=False).index).head(8).round(3).to_string())

# %% [markdown]
# **Verdict.** The offset is a zero-point, not a width: for Na, Ti II and Co the median calibrated z
# against the truth is +1.13 to +1.16 (P +0.73), because the network's predictions sit +0.046 to
# +0.070 dex above the truth while the calibrated σ of these stars is only 0.036-0.046 dex (P 0.092).
# The offset is the ASPCAP-like labels' own (+0.027 to +0.051 dex against the truth): the synthetic
# survey gives the noisiest, weak-line labels a zero-point offset, as real ASPCAP abundances have,
# and the network learns it. [Si/H] (median z +0.95) shows the same with a small offset over an
# even smaller σ (+0.014 against 0.013 dex). A scale factor on σ cannot remove a bias, and calibrating against the
# labels cannot even see it; only the truth (or an external standard, such as the clusters of
# `Open_Globular_Cluster_Benchmark.ipynb`) reveals it. On real data the same holds for ASPCAP's
# zero-points.

# %% [markdown]
# ## Outside the training box
#
# The network was trained on stars with 4000 < Teff < 5500 K, mostly giants. A small extra set of synthetic stars
# of every kind (SNR > 100, 3500–8000 K, no flag cuts; `highsnr.ood_dataset`) is predicted, and each
# star's **distance from the training box** is measured from its true labels
# (`metrics.out_of_box_distance`: the box is 4000–5500 K, log g ≤ 3.8, [Fe/H] ≥ −1.5; distances in
# units of 300 K, 0.7 dex and 0.3 dex added in quadrature). The network's total uncertainty,
# relative to the median of the in-box stars of the same set, should grow with that distance: the
# network signals that it is extrapolating.

# %%
ood = {}
if synthetic:
    ood_path = highsnr.ood_dataset(P)
    pred_ood = predictions.predict_set(censored, ood_path, profile=P)
    truth_ood = highsnr.load_labels(ood_path)["truth"]
    tt, tg, tf = truth_ood[:, 0], truth_ood[:, 1], truth_ood[:, T.index("Fe")]
    dist = metrics.out_of_box_distance(tt, tg, tf)
    category = np.select([dist == 0, tt > 5500, tg > 3.8, tf < -1.5, tt < 4000],
                         ["in box", "hot (Teff > 5500)", "dwarf (logg > 3.8)", "[Fe/H] < -1.5", "cool (Teff < 4000)"],
                         "other")
    ratio, binned_ood = highsnr.ood_ratio(pred_ood["total"], dist)
    inside = dist == 0
    sigma_rel = pred_ood["total"] / np.median(pred_ood["total"][inside], axis=0)
    fig = figs.ood_uncertainty(dist, sigma_rel, category, binned_ood)
    save(fig, "inference_highsnr_ood", P)
    counts = pd.Series(category).value_counts()
    print(counts.to_string())
    per_cat = pd.DataFrame({c: np.median(sigma_rel[category == c], axis=0) for c in counts.index
                            if c != "in box" and (category == c).sum() >= 3}, index=T).T
    print("median sigma_total / median in-box sigma_total, by category:")
    print(per_cat[["teff", "logg", "Fe", "Mg", "Na", "Ni"]].round(2).to_string())
    print(f"out of box / in box (all out-of-box stars): Teff {ratio[0]:.2f}, logg {ratio[1]:.2f}, "
          f"median over the 22 labels {np.median(ratio):.2f}")
    ood = {"n_in_box": int(inside.sum()), "n_out_of_box": int((~inside).sum()),
           "category_counts": counts.to_dict(),
           "ratio_out_over_in": dict(zip(T, ratio)), "median_ratio_over_labels": float(np.median(ratio)),
           "ratio_by_category": {c: dict(zip(T, per_cat.loc[c])) for c in per_cat.index},
           "ratio_by_distance": {"centers": binned_ood.centers, "teff": binned_ood.stat[:, 0],
                                 "logg": binned_ood.stat[:, 1], "Fe": binned_ood.stat[:, T.index("Fe")]}}

# %% [markdown]
# **Verdict.** Of the 2000 stars, 1465 are inside the box. Outside it the network's total
# uncertainty is larger than inside by a median factor of 2.58 for Teff, 2.21 for log g and 1.56
# over the 22 labels; by star kind it is 1.2-2.8 for dwarfs, hot and cool stars (largest for Teff)
# and 3.5-7.7 for [Fe/H] < −1.5 (Teff 7.49, [Fe/H] 7.18). In the figure the binned median rises only slowly with
# distance (about 2-3 up to a distance of 5, 8 at the far end), apart from a small group of dwarfs
# whose σ explodes to 30-1000 times the in-box median. The paper states that the uncertainty blows up outside the
# training set; here it grows, but moderately: a factor of 2-3 would not separate an extrapolated
# star from an in-box star at the hot edge of the box (whose σ is itself 2-3 times the median, see
# the Teff bins above). Note that the dwarfs are "outside" only by the box's log g ≤ 3.8 definition:
# 683 training stars are dwarfs, hence their modest factor. σ alone is a weak out-of-domain flag;
# the next section adds a dedicated one.

# %% [markdown]
# ### An out-of-domain score: does a spectrum look like the training spectra?
#
# The σ above grows outside the box, but slowly, and it says nothing about spectra whose
# *physics* differs from the training set's: real spectra, another instrument's line-spread
# function, a wavelength solution off by a pixel, a spectrum not shifted to rest. The model folder
# therefore carries a small **domain model** (`domain.npz` next to astroNN's files,
# `astronn_paper.model.domain`): the mean and first 100 principal components of the training set's
# normalised spectra. A spectrum's `DOMAIN_SCORE` is the χ² per pixel of its residual against its
# projection on those components, weighted by its errors (plus the part of the residual that the
# training spectra themselves leave, per pixel), divided by the training median: ≈ 1 in domain.
# The threshold is set so that ≤ 2 % of the high-SNR test set is flagged; `predict` and the
# catalog report the score and flag.
#
# To test it, stars of the high-SNR test set (SNR 100–200) are re-rendered with deliberately
# different physics (`out_of_domain.render_variant`: the same labels, visits and noise draws, the paper's
# normalisation), scored, and run through the network (MC dropout) to compare with what σ alone
# would catch (σ summarised per star as the median over the 22 labels of σ_total / its in-domain
# median, flagged above the in-domain 98th percentile).

# %%
from astronn_paper.analysis import out_of_domain
from astronn_paper.model import domain

domain_summary = {}
if synthetic:
    dom = domain.ensure(censored, sets["train"], sets["test"], profile=P)
    ood_dom = out_of_domain.ood_table(censored, n_per_class=200 if P.name != "ci" else 40,
                               mc=min(P.mc_passes, 40), profile=P, test_path=sets["test"],
                               domain_model=dom)
    tab = ood_dom.table.to_pandas().set_index("variant")
    print(f"threshold {dom.threshold:.3f}; flagged in the high-SNR test set: "
          f"{100 * ood_dom.table.meta['test_flagged']:.2f} % of {ood_dom.table.meta['n_test']}; "
          f"fit {dom.meta.get('timing_s', {}).get('fit', float('nan')):.0f} s, scoring "
          f"{dom.meta.get('timing_s', {}).get('per_spectrum_ms', float('nan')):.2f} ms per spectrum")
    print(tab[["n", "flagged", "median_score", "sigma_flagged", "sigma_teff_flagged", "sigma_fe_flagged",
               "d_teff", "d_logg", "d_C", "d_N", "d_O"]].round(3).to_string())
    fig = figs.domain_scores(ood_dom)
    save(fig, "inference_highsnr_domain_scores", P)
    domain_summary = {"threshold": dom.threshold, "test_flagged": ood_dom.table.meta["test_flagged"],
                      "n_components": dom.meta["n_components"],
                      "classes": {v: {k: float(tab.loc[v, k]) for k in ("n", "flagged", "sigma_flagged")}
                                  for v in tab.index}}

# %% [markdown]
# **Verdict.** The threshold (score 1.346) flags 2.00 % of the 3000 test stars by construction and
# 3.0 % of the re-rendered in-domain stars. The score catches the classes whose spectra leave the
# span of the training set: a one-pixel line shift (99 %), a 7000 K star, a 3300 K dwarf and a
# spectrum left at 60 km/s (100 % each), and a 1.5× broader LSF (92 %, the least separated of
# these: broadening is partly mimicked by the macro- and microturbulence of the training giants).
# σ alone flags 1.5-2.5 % of these classes, no more than in domain, except the 3300 K dwarf (100 %) and
# the unshifted spectrum (75 %), while the network's Teff moves by 33 to 900 K: it extrapolates
# silently. The score does **not** catch molecular bands 30 % stronger (5.5 %), and only 61.5 % of
# the spectra without molecules (the cool ones): in this forward model, changing all CO, CN and OH
# opacities together looks like a change of the C, N and O abundances, which the training set
# spans, so those spectra stay in domain and the network reads them as abundance changes (the
# `d_C`, `d_N`, `d_O` columns: medians of the predicted change against the same stars in domain).
# A spectrum-space distance cannot separate a physics change that the training spectra already
# mimic; the flag is a guard against the gross mismatches, not a proof of physical validity.

# %% [markdown]
# ## The element response test: read from the element's own lines, or inferred from the others?
#
# The Jacobian says where in the spectrum each output is *sensitive*; it does not say how much of a
# real change of one abundance reaches the output. The synthetic survey can answer that directly,
# because the forward model can re-render any star (`analysis.response`,
# `python -m astronn_paper response`). For a few hundred in-box giants of the survey population
# (true Teff, log g, [Fe/H] in the training box, STARFLAG = 0), each true label j is changed alone
# (Teff +50 K, log g +0.1 dex, one [X/H] +0.1 dex), the spectrum is re-rendered, observed with
# **the same noise draw** as the unperturbed star (the star's own random generator), normalised as
# in the paper and predicted with the same MC-dropout masks (mean of 20 passes); then
# R[i, j] = median over the stars of Δpred_i / Δtrue_j, with a bootstrap error over the stars.
#
# * the **diagonal** R[X, X] is the **self-response**: 1 when the output follows a change of its
#   own label, 0 when it ignores it;
# * the **off-diagonal** is what leaks into an output from other labels;
# * the last column changes **all 20 [X/H] together** by +0.1 dex, the direction in which the
#   training population mostly varies (metallicity): an output that follows this direction but not
#   its own label is inferred from the star's overall metallicity and the population's
#   correlations, not measured from its own lines.
#
# The renderer has separate inputs for C in molecules (`C`: CO, CN) and in C I lines (`C1`), and for
# Ti I and Ti II: these are separate columns; `C+C1` and `Ti+Ti2` change both together (a change of
# the element). The matrix is shown in units of each label's step (for Teff: ΔTeff_pred / 50 K),
# at SNR 200 (the training set's lower edge); the test is also run at SNR 50 (a typical visit),
# and the self-responses at both SNRs are compared in the second figure.

# %%
from astronn_paper.analysis import response

resp_snrs = response.DEFAULT_SNRS
resp = response.response_table(censored, P, snrs=resp_snrs)
n_resp = int(resp["n_stars"].max())
fig = figs.response_matrix(resp, resp_snrs[:1], title=f"Element response of the censored network ({censored.name})")
save(fig, "inference_highsnr_response_matrix", P)
self_resp = {f"SNR {s:g}": response.self_response(resp, s) for s in resp_snrs}
fig = figs.self_response_vs_jacobian(self_resp, concentration,
                                     {t: float(windows[t].mean()) for t in apogee.ABUNDANCES})
save(fig, "inference_highsnr_self_response", P)
resp_summary = pd.DataFrame(
    {f"R self, SNR {s:g}": self_resp[f"SNR {s:g}"]["self"] for s in resp_snrs}
    | {f"± (SNR {s:g})": self_resp[f"SNR {s:g}"]["self_err"] for s in resp_snrs}
    | {f"all [X/H], SNR {s:g}": self_resp[f"SNR {s:g}"]["population"] for s in resp_snrs}
    | {"Jacobian in windows": pd.Series(concentration)}).reindex(T)
print(f"response test: {n_resp} in-box giants, {resp.attrs.get('mc_passes', response.MC_PASSES)} MC passes; "
      f"'all [X/H]' = response to all 20 [X/H] +0.1 dex, in units of the label's step")
print(resp_summary.round(3).to_string())
for pair, (a, b) in response.ELEMENT_PAIRS.items():
    for s in resp_snrs:
        sr = self_resp[f"SNR {s:g}"]
        print(f"SNR {s:g}: both {pair} columns changed together: {a} output {sr.loc[a, 'element']:.3f} "
              f"± {sr.loc[a, 'element_err']:.3f}, {b} output {sr.loc[b, 'element']:.3f} ± {sr.loc[b, 'element_err']:.3f}")

# %% [markdown]
# **A plain reading** (printed from the numbers above, so it follows the re-run). We call an
# abundance *measured* when its self-response at SNR 200 is at least 0.5 (at least half of a real
# change reaches the output), *partly measured* between 0.2 and 0.5, and *inferred* below 0.2, where
# the output moves with all [X/H] together (the population direction) but hardly with its own
# abundance. The Jacobian concentration is beside it: a censored branch reads only its own windows,
# but each output also reads the shared trunk, which sees the whole spectrum, so the Jacobian can be
# concentrated in the windows (Na 99 %) or not (Ti 2 %); and even a concentrated one can come with
# a small self-response, since the windows also respond to the overall metallicity and the stellar
# parameters (through blends), which the network learned to use as a proxy.

# %%
sr_hi = self_resp[f"SNR {max(resp_snrs):g}"]
sr_lo = self_resp[f"SNR {min(resp_snrs):g}"]
ab = list(apogee.ABUNDANCES)


def _fmt(names):
    return ", ".join(f"{t} {sr_hi.loc[t, 'self']:.2f}" for t in names) or "none"


order = sr_hi.loc[ab, "self"].sort_values(ascending=False).index
measured = [t for t in order if sr_hi.loc[t, "self"] >= 0.5]
partly = [t for t in order if 0.2 <= sr_hi.loc[t, "self"] < 0.5]
inferred = [t for t in order if sr_hi.loc[t, "self"] < 0.2]
pop = sr_hi.loc[ab, "population"]
print(f"At SNR {max(resp_snrs):g} (self-response R[X,X]):")
print(f"  measured from its own lines (R >= 0.5): {_fmt(measured)}")
print(f"  partly measured (0.2 <= R < 0.5): {_fmt(partly)}")
print(f"  mostly inferred from the others (R < 0.2): {_fmt(inferred)}")
print(f"  when all 20 [X/H] move together by +0.1 dex, every abundance output moves by "
      f"{pop.min():.2f}-{pop.max():.2f} of it: the overall metallicity is read well.")
print(f"  Teff follows its own change by {sr_hi.loc['teff', 'self']:.2f} ± {sr_hi.loc['teff', 'self_err']:.2f}, "
      f"log g by {sr_hi.loc['logg', 'self']:.2f} ± {sr_hi.loc['logg', 'self_err']:.2f} "
      f"(SNR {min(resp_snrs):g}: {sr_lo.loc['logg', 'self']:.2f} ± {sr_lo.loc['logg', 'self_err']:.2f}).")
print(f"  median self-response of the 20 abundances: SNR {max(resp_snrs):g} {sr_hi.loc[ab, 'self'].median():.2f}, "
      f"SNR {min(resp_snrs):g} {sr_lo.loc[ab, 'self'].median():.2f}")

# %% [markdown]
# **Verdict.** Only N (0.71) and Fe (0.55) pass on more than half of a change of their own
# abundance at SNR 200; O, Ni, C, Mn, Mg, C I, Si, Na and Al pass on 0.23-0.47; P, Cr, Co, K, S,
# Ca, V, Ti and Ti II 0.20 or less (Ti 0.02, Ti II 0.01), and changing both Ti columns together
# reaches the Ti output by only 0.014. Yet all 20 [X/H] changed together move every abundance output
# by 0.92-1.19: the overall metallicity is read well. The numbers barely change at SNR 50 (median
# self-response 0.24 against 0.26), so this is not a noise limit but what the network learned. An
# earlier measurement of the same design at SNR 400 gave the same picture (Fe 0.54, Mg 0.36, Al
# 0.25, Ca 0.06, Ti 0.02; all twenty together 0.92-1.18). Teff follows its own change by 0.93, log g
# by 0.67. The paper did not test this; its Jacobian argument cannot distinguish a measured from an
# inferred abundance. Ti II, Ti and Ca, three of the four lowest self-responses (0.01, 0.02, 0.06),
# are also the three with the least Jacobian inside their windows (2-15 %).
#
# What this explains: an abundance with a small self-response is predicted mostly from the star's
# overall metallicity and the population's correlations, so (i) its star-to-star deviations from
# the population trend are shrunk by about R[X, X] — the M13 Al spread in
# `Open_Globular_Cluster_Benchmark.ipynb` is predicted from R[Al, Al] there; (ii) its visit-to-visit
# scatter and its uncertainty can be small although its error against the truth is not, since the
# output hardly depends on the noise in its own lines; (iii) log g, only partly followed, is partly
# inferred from Teff and metallicity along the giant branch.

# %%
# the numbers of this notebook, for the README and the tests
summary = {
    "n_test": len(test["mean"]), "n_validation": len(val_idx), "mc_passes": P.mc_passes,
    "model_folder": censored.name, "synthetic": synthetic,
    "table": {t: {k: table.loc[t, k] for k in table.columns if k != "unit"} for t in T},
    "calibration_scale": dict(zip(T, cal.scale_aspcap)),
    "calibration_scale_vs_truth": None if cal.scale_truth is None else dict(zip(T, cal.scale_truth)),
    "z_robust_std": {k: dict(zip(T, v)) for k, v in spreads.items()},
    "z_robust_std_validation_raw_vs_aspcap": dict(zip(T, metrics.robust_std(z_val))),
    "jacobian_concentration": concentration, "jacobian_n_stars": len(jac_rows),
    "jacobian_corr_forward_model": similarity, "ood": ood, "domain": domain_summary,
    "logg_budget": None if logg_budget is None else logg_budget.to_dict(orient="index"),
}
if synthetic:
    summary |= {"noise_budget": budget.to_dict(orient="index"), "z_offsets": zoff.to_dict(orient="index"),
                "metal_poor": {"n_train": int(poor_train.sum()), "n_test": int(poor.sum()),
                               "slope_teff": shrink["[Fe/H] < −1"][0]["slope"],
                               "slope_logg": shrink["[Fe/H] < −1"][1]["slope"]}}
out = results.write("Inference_highSNR", summary | {"response": {
    "n_stars": n_resp, "snrs": list(resp_snrs), "model": censored.name,
    "self_response": {f"{s:g}": self_resp[f"SNR {s:g}"][["self", "self_err"]].to_dict(orient="index")
                      for s in resp_snrs},
    "population": {f"{s:g}": self_resp[f"SNR {s:g}"]["population"].to_dict() for s in resp_snrs},
    "measured": measured, "partly_measured": partly, "inferred": inferred}}, P)

# %% [markdown]
# ## What this shows
#
# * **Precision against the truth matches the paper; against the labels it cannot.** The scatter
#   against the ASPCAP-like labels is 1.5-2.6 times the paper's (Teff 44.7 K against 23.6 K) because
#   the synthetic labels scatter about the truth by 35 K in Teff and up to 0.18 dex for the weak-line
#   elements; the quadrature sum of the two errors reproduces it within 8 %. Against the truth the
#   network is at or below the paper's scatter for 14 of 22 labels (Teff 21.8 K, [Fe/H] 0.018 dex)
#   and better than its own training labels for 21 of 22.
# * **log g is the weak label** (0.120 dex against the truth, paper 0.048): the red clump is
#   biased by +0.106 dex, the labels' +0.050 offset plus a pull of +0.06 towards the giant branch;
#   the 162 metal-poor giants scatter by 0.57 dex.
# * **Metal-poor giants fall back on the prior**: with 3.0 % of the training set below [Fe/H] = −1,
#   their predicted log g follows the truth with a slope of 0.22 and 70 % land in one clump at
#   5000-5300 K, log g 2.1-3.2, while their σ (269 K in Teff) flags them.
# * **Most abundances are inferred, not measured**: Ti, Ca and Ti II have only 2-15 % of their
#   Jacobian inside their windows (Fe 32 %, no more than its windows' share of the pixels), and a
#   change of one element reaches its output by 0.01-0.71 (median 0.26; Fe 0.55, Ti 0.02) while all
#   metals together move every output by 0.92-1.19.
# * **The uncertainties are conservative but blind to biases**: raw σ is up to 1.8 times too large;
#   one scale per label fitted on the validation set calibrates it against the labels (0.98-1.06),
#   but against the truth Na, Ti II and Co sit +1.1 σ off, the labels' zero-point learned by the
#   network.
# * **Outside the training box σ grows only 2-3×** (7× below [Fe/H] = −1.5); the PCA domain score
#   flags line shifts, wrong LSFs, hot stars and unshifted spectra that σ misses, but not changes of
#   the molecular physics that the training set already mimics.
