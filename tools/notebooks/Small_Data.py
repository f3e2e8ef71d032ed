# %% [markdown]
# # How much training data does the network need?
#
# Leung & Bovy (2019, sect. 5.6) retrain the censored network on random halves, quarters, ... of
# the training set, down to ~1000 spectra, and find that the precision degrades slowly down to a
# few thousand spectra and quickly below: a network of this size (~3.5 M parameters, most in the
# element branches) needs thousands of high-SNR spectra, but not the full survey.
#
# Here every subset is drawn with a seed from the profile, the network is trained with the same
# hyper-parameters (10 % of each subset for validation), and **all networks are scored on the same
# held-out spectra: the combined spectra of the high-SNR test set** — against the ASPCAP-like
# labels (what the paper could measure) and against the true labels of the synthetic survey.
# (The paper scored on the individual visits of the training stars; its numbers are overlaid
# for the trend, not for a like-for-like comparison.)

# %% tags=["parameters"]
profile = None

# %%
from astronn_paper import config, results, studies
from astronn_paper.figures import save
from astronn_paper.figures import small_data as figs

P = config.get_profile(profile)
print(f"profile: {P.name}; training fractions {P.small_data_fractions}, {P.epochs} epochs")

# %% [markdown]
# ## Train (or reuse) one network per subset and score it

# %%
runs = studies.small_data_study(P)
vs_aspcap = studies.scatter_vs_size(runs, "aspcap")
vs_truth = studies.scatter_vs_size(runs, "truth")
shown = list(studies.TARGETS_SHOWN)
print("scatter against the ASPCAP-like labels (Teff in K, others dex):")
print(vs_aspcap[shown].round(3).to_string())
print("\nscatter against the truth:")
print(vs_truth[shown].round(3).to_string())

# %% [markdown]
# ## Scatter versus training-set size

# %%
fig = figs.scatter_vs_size(vs_aspcap, vs_truth)
save(fig, "small_data_scatter_vs_size", P)

# %% [markdown]
# ## Does the scatter grow as the training set shrinks?
#
# A step from a larger to a smaller training set may lower the measured scatter only by its
# statistical error (the `mad_std` of N residuals has a relative error of about 1/sqrt(0.74 N)).

# %%
n_test = len(runs[0].pred["mean"])
noise = 2 * studies.scatter_rel_error(n_test)  # two standard errors of the difference
monotone = {t: studies.monotone_within_noise(vs_truth.index, vs_truth[t], noise)
            for t in ("teff", "logg", "Fe", "Mg")}
print(f"monotone within noise ({noise:.1%} per step) against the truth:", monotone)
results.write("Small_Data", {
    "n_train": list(vs_aspcap.index), "n_test": n_test,
    "scatter_vs_aspcap": vs_aspcap.to_dict(orient="list"),
    "scatter_vs_truth": vs_truth.to_dict(orient="list"),
    "monotone_within_noise": monotone,
}, P)
