# %% [markdown]
# # Continuum versus ASPCAP normalisation
#
# The paper normalises every spectrum itself: a degree-2 Chebyshev polynomial per detector fitted
# through a fixed set of continuum pixels, with bad pixels set to 1. ASPCAP's own normalised
# spectra (aspcapStar files) use a pseudo-continuum that depends on the fitted stellar model, so
# that a network trained on them partly inherits ASPCAP's fit. Leung & Bovy (2019, sect. 5.5)
# trained the same censored network on aspcapStar spectra and found similar, slightly worse,
# precision — evidence that the paper's simple, model-independent normalisation loses nothing.
#
# Here both networks are trained with the same settings on the same stars, differing only in the
# normalisation, and scored on the same high-SNR test stars (each normalised its own way) against
# the ASPCAP-like labels and the truth, beside the paper's published column for the
# ASPCAP-normalised network.

# %% tags=["parameters"]
profile = None

# %%
from astronn_paper import config, paper
from astronn_paper.analysis import aspcap_norm, results
from astronn_paper.figures import aspcap_norm as figs
from astronn_paper.figures import save

P = config.get_profile(profile)
print(f"profile: {P.name}; {P.epochs} epochs")

# %% [markdown]
# ## Train (or reuse) the ASPCAP-normalised network and score both

# %%
scored = aspcap_norm.aspcap_study(P)
table = aspcap_norm.side_by_side(scored, paper.scatter("censored_aspcap_normalised_highsnr_test"))
print("scatter on the high-SNR test set (Teff in K, others dex):")
print(table.round(3).to_string())

# %%
fig = figs.scatter_comparison(table)
save(fig, "aspcap_normalization_scatter", P)

# %% [markdown]
# ## What the comparison shows
#
# The ratio of the two networks' scatter against the truth says whether normalising with
# ASPCAP's model-dependent pseudo-continuum helps or hurts; against the ASPCAP-like labels the
# comparison also includes how much each network reproduces the labels' own noise.

# %%
ratio = (table["aspcap: vs truth"] / table["continuum: vs truth"]).rename("ASPCAP / continuum")
print(ratio.round(2).to_string())
print(f"\nmedian ratio over the 22 labels: {ratio.median():.2f}")
results.write("ASPCAP_Normalization", {"table": table.to_dict(), "ratio_vs_truth": ratio.to_dict(),
                                        "median_ratio_vs_truth": float(ratio.median())}, P)
