# %% [markdown]
# # Training the paper's networks
#
# Leung & Bovy (2019) train two Bayesian convolutional networks with
# [astroNN](https://github.com/henrysky/astroNN) on the combined spectra of the training set
# (4000 < Teff < 5500 K, SNR > 200; see `Datasets_Data_Reduction.ipynb`), to predict 22 labels:
# Teff, log g and 20 abundances [X/H].
#
# * **`ApogeeBCNNCensored`** (`astroNN_0617_run001`), the paper's network. A shared convolutional
#   trunk sees the whole spectrum and predicts Teff and log g; for each element, a small dense
#   branch sees *only that element's ASPCAP windows* (the spectrum multiplied by a 0/1 mask) plus
#   the trunk's stellar-parameter features. Censoring forces each abundance to come from that
#   element's own lines rather than from astrophysical correlations with other elements.
# * **`ApogeeBCNN`** (`astroNN_0606_run001`), the same idea without censoring: every label sees
#   the whole spectrum.
#
# Both are trained with dropout variational inference (MC dropout, rate 0.3): at test time 100
# passes with random dropout masks give the model (epistemic) uncertainty, and a second output head
# gives the predictive (aleatoric) variance. The loss is astroNN's robust loss: a Gaussian
# likelihood whose variance is the predicted variance plus the label's reported error, with
# **labels equal to -9999 (missing ASPCAP values) contributing nothing** — so a star with a missing
# log g still teaches the network its abundances.

# %% tags=["parameters"]
profile = None

# %%
import json

import matplotlib.pyplot as plt

from astronn_paper import config, dataset
from astronn_paper.model import train
from astronn_paper.figures import save
from astronn_paper.figures import training as figs

P = config.get_profile(profile)
print(f"profile: {P.name}  (epochs {P.epochs}, training spectra {P.n_train or 'all'})")

# %% [markdown]
# ## Hyper-parameters
#
# The paper's, in every profile; only the number of epochs and the size of the training set
# come from the profile. 10 % of the training spectra are held out for validation (that split is
# saved in each model folder and reused to calibrate the uncertainties later).

# %%
for kind, spec in train.NETWORKS.items():
    print(f"{spec.astronn_class:>20}: num_hidden {list(spec.num_hidden)}, dropout {spec.dropout_rate}, "
          f"lr {spec.lr}, batch {P.batch_size}, epochs {P.epochs}, validation {spec.val_size:.0%}")
print("fixed by the architecture:", json.dumps(train.NETWORKS["censored"].fixed))

# %% [markdown]
# ## Censoring: what each element branch sees
#
# The ASPCAP windows (from astroNN's `aspcap_l31c_masks.npy`). C, N and O — carried by CO, CN and
# OH molecular bands that blanket the H band — see thousands of pixels; Na, S, K and Ca a handful.

# %%
fig = figs.censoring_windows()
save(fig, "training_censoring_windows", P)

# %% [markdown]
# ## Train (or reuse) both networks
#
# `train.ensure_model` trains a network only if no folder trained on exactly this dataset (same
# fingerprint), profile and number of epochs exists; otherwise it reuses it. Each folder is in
# astroNN's own format (loadable with `astroNN.models.load_folder`) plus a `provenance.json`.

# %%
train_set = dataset.build_standard_sets(P)["train"]
folders = {kind: train.ensure_model(kind, P, train_set) for kind in ("censored", "bcnn")}
for kind, folder in folders.items():
    prov = train.read_provenance(folder)
    print(f"{kind:>9}: {folder.name}: {prov['n_train']} training + {prov['n_validation']} validation "
          f"spectra, {prov['network']['epochs']} epochs, {prov['training_wall_time_s']:.0f} s")

# %%
if P.name == "default" and folders["censored"] != config.shipped_model_dir():
    # the repository ships the default-profile censored network (weights only)
    shipped = train.publish_shipped_model(folders["censored"])
    print("published", shipped.name)

# %% [markdown]
# ## Learning curves and the learning-rate schedule

# %%
histories = {train.NETWORKS[k].astronn_class: train.training_history(f) for k, f in folders.items()}
fig = figs.loss_curves(histories)
save(fig, "training_loss_curves", P)
for name, h in histories.items():
    last = h.iloc[-1]
    print(f"{name:>20}: final training loss {last['output_loss']:.3f}, validation loss "
          f"{last['val_output_loss']:.3f}, final learning rate {last['lr']:.2e}")
