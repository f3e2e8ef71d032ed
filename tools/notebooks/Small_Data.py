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
from astronn_paper import config
from astronn_paper.analysis import results, small_data
from astronn_paper.figures import save
from astronn_paper.figures import small_data as figs

P = config.get_profile(profile)
print(f"profile: {P.name}; training fractions {P.small_data_fractions}, "
      f"{P.small_data_replicates} network(s) per fraction, {P.epochs} epochs")

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
# ## Scatter versus training-set size

# %%
fig = figs.scatter_vs_size(vs_aspcap, vs_truth,
                           replicates_truth=small_data.replicate_scatter(runs, "truth"))
save(fig, "small_data_scatter_vs_size", P)

# %% [markdown]
# ## Does the scatter grow as the training set shrinks?
#
# Two networks trained on different random subsets of the same size do not reach the same scatter:
# the subset, the initial weights and the dropout masks of training all differ. That *training
# noise* — measured from the replicates, pooled over the sizes — is what a step from a larger to a
# smaller training set has to beat; a step may lower the mean scatter by at most two standard
# errors of the difference. (With a single network per size, as in the `ci` profile, only the
# test-set sampling noise of a `mad_std` is available, about 1/sqrt(0.74 N), which is smaller than
# the training noise.)

# %%
n_test = len(runs[0].pred["mean"])
noise = small_data.training_noise(runs, "truth")
if noise is not None:
    print("training noise of one network's scatter against the truth (relative):")
    print(noise[shown].round(3).to_string())
monotone, allowed = {}, {}
for t in ("teff", "logg", "Fe", "Mg"):
    allowed[t] = small_data.step_noise(runs, t, "truth", n_test)
    monotone[t] = small_data.monotone_within_noise(vs_truth.index, vs_truth[t], allowed[t])
    steps = " ".join(f"{d:+.1%}" for d in vs_truth[t].pct_change().to_numpy()[1:])
    print(f"{t:>5}: step changes {steps}; allowed decrease per step "
          f"{' '.join(f'{a:.1%}' for a in allowed[t])} -> monotone within noise: {monotone[t]}")
results.write("Small_Data", {
    "n_train": list(vs_aspcap.index), "n_test": n_test,
    "replicates": P.small_data_replicates,
    "scatter_vs_aspcap": vs_aspcap.to_dict(orient="list"),
    "scatter_vs_truth": vs_truth.to_dict(orient="list"),
    "training_noise_vs_truth": None if noise is None else noise.to_dict(),
    "allowed_step_decrease": {t: list(a) for t, a in allowed.items()},
    "monotone_within_noise": monotone,
}, P)
