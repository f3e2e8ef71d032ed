# %% [markdown]
# # Individual visits: precision versus signal-to-noise
#
# The networks are trained on *combined* spectra with SNR > 200. Most APOGEE spectra are not
# like that: a single visit (about an hour of exposure) has SNR ~ 50–100, and a quarter of the
# DR14 stars have only one or two visits. Leung & Bovy (2019, sect. 5.2) test the censored network
# on every **individual visit** of the test stars and compare each visit's labels with the labels
# the network gives to the **combined spectrum of the same star**. The star is the same, only the
# noise differs, so the difference measures the network's *precision* as a function of SNR,
# independently of any error in the ASPCAP labels.
#
# This is also the test of whether the network learned *spectral* information rather than noise:
# a network that had memorised the noise pattern of its high-SNR training spectra, or that leaned on
# features that vanish in the noise, would drift from the combined-spectrum answer at low SNR. A
# network reading the lines should degrade gracefully, the median |visit − combined| shrinking as
# the SNR grows (≈ 1/SNR when photon noise dominates), and its own uncertainty should follow.
# The paper's headline: **≈ 0.02–0.03 dex for most elements even at visit SNR ≈ 50**.
#
# Precision is not accuracy: a network that returned the population mean for every star would be
# perfectly "precise" by this test. On the synthetic survey we can do what the paper could not and
# compare each visit with the **truth** as well, which shows how much of the visit scatter is real
# error and where the network's floor (its error on the combined spectrum) is reached.

# %% tags=["parameters"]
profile = None

# %%
import numpy as np
import pandas as pd

from astronn_paper import apogee, config, dataset, paper
from astronn_paper.analysis import metrics, results, inference_visits as visits
from astronn_paper.model import train
from astronn_paper.figures import inference_visits as figs
from astronn_paper.figures import save

pd.set_option("display.precision", 4)
pd.set_option("display.width", 140)
P = config.get_profile(profile)
sets = dataset.build_standard_sets(P)
censored = train.ensure_model("censored", P, sets["train"])
print(f"profile {P.name}: model {censored.name}, {P.mc_passes} MC-dropout passes")
if P.name == "ci":
    print("ci profile: networks trained for a few epochs on ~1k stars - smoke-test numbers, not science")
for name, path in sets.items():
    n = dataset.info(path)["n"]
    print(f"{name:>5}: {n['combined']:,} stars, {n.get('visits', 0):,} visits")

# %% [markdown]
# ## Predictions on every visit and on the combined spectra
#
# `visits.predict_visits` runs the censored network (fast MC dropout, cached) on every visit of
# the high-SNR test stars and on their combined spectra, then finds each visit's star twice:
# from the `star_index` column the compile step wrote, and independently by cross-matching the
# visit's RA/DEC with the stars' (astropy `SkyCoord.match_to_catalog_sky`, 1″ radius). The two
# must agree; DR14 lists a few stars twice (observed in two overlapping fields, same position),
# which a sky match cannot tell apart, so those count as agreeing when the APOGEE_ID is the same.

# %%
test = visits.predict_visits(censored, sets["test"], P, name="test")
match = test.match.summary()
print("test visits matched to their stars:", match)
assert match["fraction_agree"] == 1.0, "star_index and the sky cross-match disagree"
print(f"visit SNR: median {np.median(test.snr):.1f} (paper: 57.2 for the 86,200 test visits), "
      f"5-95%: {np.percentile(test.snr, 5):.0f}-{np.percentile(test.snr, 95):.0f}")

# %% [markdown]
# ## Precision versus visit SNR
#
# For each label, in bins of visit SNR: the median |visit − combined| (black), the median
# |visit − truth| (orange) with, dotted, the median |combined − truth| of the same stars (the
# floor: a visit cannot beat the combined spectrum's own error), and the mean total (dashed) and
# model (dotted blue) uncertainty the network assigns to the visits. The value at SNR = 50
# (log-log interpolation between the bins' median SNRs) is written on each panel, with the
# paper's (red star).

# %%
paper_snr50 = visits.paper_precision()
prec = test.precision(min_count=10 if P.name != "ci" else 5)
fig = figs.precision_vs_snr(prec, paper=paper_snr50)
save(fig, "inference_visits_precision_vs_snr", P)

# %%
at50 = prec.table(visits.REFERENCE_SNR, paper=paper_snr50)
print(at50.round(4).to_string())
n_good = int((at50.loc[list(apogee.ABUNDANCES), "vs_combined"] <= 0.05).sum())
print(f"\nabundances with median |visit - combined| <= 0.05 dex at SNR 50: {n_good} of 20")

# %%
fig = figs.precision_at_snr(at50)
save(fig, "inference_visits_precision_at_snr50", P)

# %% [markdown]
# ## Visits of the training stars: scatter against the labels
#
# The paper's headline scatter table scores the censored network on the individual visits of its
# *training* stars (whose combined spectra it was trained on, but whose single visits it never saw): bias and
# scatter (MAD standard deviation) against the ASPCAP labels of the star, -9999 labels excluded.
# Here beside the paper's column and, on synthetic data, the scatter against the truth. (A seeded
# subset of the training stars in the `ci` and `default` profiles keeps the run short.)

# %%
trainv = visits.predict_visits(censored, sets["train"], P, name="train",
                               n_stars=visits.TRAINING_VISIT_STARS.get(P.name))
print("training-star visits matched:", trainv.match.summary())
table = metrics.bias_scatter_table(trainv.visits["mean"], trainv.labels, truth=trainv.visit_truth,
                                   paper=paper.scatter("censored_visits_of_training_stars"))
print(table.round(4).to_string())

# %% [markdown]
# ## Numbers for the README

# %%
out = results.write("Inference", {
    "model": censored.name,
    "n_test_visits": test.match.n, "n_test_stars": match["n_stars"],
    "median_test_visit_snr": float(np.median(test.snr)),
    "match": match,
    "snr50": {col: at50[col].to_dict() for col in at50.columns},
    "n_abundances_snr50_vs_combined_le_0.05": n_good,
    "snr_bins": {"edges": prec.edges, "median_snr": prec.snr, "count": prec.count},
    "training_star_visits": {
        "n_visits": trainv.match.n, "n_stars": trainv.match.summary()["n_stars"],
        "table": {c: table[c].to_dict() for c in table.columns if c != "unit"},
    },
}, P)
print("wrote", out)
