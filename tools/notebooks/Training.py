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


from astronn_paper import config, dataset
from astronn_paper.model import train
from astronn_paper.figures import save
from astronn_paper.figures import training as figs

P = config.get_profile(profile)
print(f"profile: {P.name}  (epochs {P.epochs}, training spectra {P.n_train or 'all'})")

# %% [markdown]
# The `default` profile trains for the paper's 60 epochs on 8,000 training spectra, a quarter of
# the paper's 33,407.

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
# **Verdict.** These are the paper's settings: batch 64, Adam with learning rate 5e-4, dropout
# 0.3, two convolutional layers of 2 and 4 filters of length 8, pooling by 4, and the dense
# layers [192, 64, 32, 16, 2] of the censored network; the full-spectrum network has its own
# [256, 128]. Nothing is tuned to the synthetic survey, so any difference in the results comes
# from the data (the synthetic survey and the 4× smaller training set), not from the networks.

# %% [markdown]
# ## Censoring: what each element branch sees
#
# The ASPCAP windows (from astroNN's `aspcap_l31c_masks.npy`), coloured by the kind of feature
# they cover: the molecular bands of C (CO), N (CN) and O (OH), the Fe I lines, and the atomic
# lines of the other elements.

# %%
fig = figs.censoring_windows()
save(fig, "training_censoring_windows", P)

# %% [markdown]
# **Verdict.** The windows differ in size by more than two orders of magnitude (the pixel
# counts are on the right of the figure). C and N each see about half of the 7,514 pixels,
# because CO and CN bands blanket the whole H band of a cool giant; Fe sees a large share of
# them, in its many lines. O, although molecular (OH), sees far fewer: the OH lines are narrow
# and spread thinly, as the red ticks show. At the other end, S, Na, K and Ca see a handful of
# pixels each, one to three lines. A branch with few pixels has little signal to average over,
# so the noisiest abundances of the later notebooks are expected among those elements (and P,
# Co, Ti II and V, which see only a few dozen pixels). The windows are the paper's (ASPCAP's
# DR14 ones), and the synthetic survey places each element's lines inside its windows, so the
# censoring keeps the lines it is meant to keep.

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

# %% [markdown]
# ### The censored network, drawn from its own layer configuration
#
# `figs.network_schematic` draws the Keras configuration stored in the model folder's
# `model_weights.h5` (no drawing by hand): the convolutional trunk with each layer's output
# shape, and every element branch with its window mask and Dense layers, as the paper draws it.

# %%
fig = figs.network_schematic(train.read_layer_config(folders["censored"]), name=folders["censored"].name)
save(fig, "training_network_schematic", P)

# %% [markdown]
# **Verdict.** Both networks train on 7,200 spectra and validate on 800 (the paper: 30,067 and
# 3,340 real DR14 spectra), for 60 epochs. Each run's wall time is recorded in its provenance;
# it measures the machine's load as much as the network. The folder names are the paper's
# (`astroNN_0617_run001` for the censored network, `astroNN_0606_run001` for the full-spectrum
# one), so the later notebooks read them as the paper's code did.

# %% [markdown]
# ## Learning curves and the learning-rate schedule
#
# astroNN lowers the learning rate by half each time the validation error has not improved for
# two epochs. The dotted vertical lines mark the epoch from which the rate is negligible against
# the starting 5e-4 (the threshold and the validation loss from there on are printed below).

# %%
histories = {train.NETWORKS[k].astronn_class: train.training_history(f) for k, f in folders.items()}
fig = figs.loss_curves(histories)
save(fig, "training_loss_curves", P)
for name, h in histories.items():
    last = h.iloc[-1]
    print(f"{name:>20}: final training loss {last['output_loss']:.3f}, validation loss "
          f"{last['val_output_loss']:.3f}, final learning rate {last['lr']:.2e}")
for name, h in histories.items():
    slow = figs.epoch_lr_below(h)
    val = h["val_output_loss"].to_numpy()
    if slow is None:     # a short run (the ci profile's 4 epochs) never gets there
        print(f"{name:>20}: learning rate still >= 1e-6 after {len(val)} epochs")
        continue
    tail = val[slow - 1:]
    print(f"{name:>20}: learning rate < 1e-6 from epoch {slow}; validation loss there "
          f"{val[slow - 1]:.3f}, at epoch {len(val)} {val[-1]:.3f}, best {val.min():.3f} (epoch "
          f"{val.argmin() + 1}); epoch-to-epoch spread after epoch {slow}: {tail.std():.3f}")

# %% [markdown]
# **Verdict.** Both networks converge within the 60 epochs. The validation loss falls steeply
# over the first epochs and flattens well before the learning rate becomes negligible (left
# panel). The rate drops below 1e-6, a small fraction of the starting 5e-4, at epoch 42
# (full-spectrum) and 49 (censored); from there an epoch hardly moves the weights.
#
# * The full-spectrum network is done by then: its validation loss goes from −1.045 at epoch 42
#   to −1.049 at epoch 60, less than its epoch-to-epoch spread (0.007), and its best value,
#   −1.061, came at epoch 35, before the rate dropped.
# * The censored network still moves after epoch 49: its validation loss goes from −1.014 there
#   to its best, −1.036, at epoch 57, three times its epoch-to-epoch spread of 0.007, and ends at
#   −1.021 at epoch 60. One run cannot tell whether that dip is a late improvement or a
#   fluctuation, but the last epochs are not idle for this network: fewer epochs would not
#   obviously give the same censored network, while training longer would only halve an
#   already negligible rate further.
#
# The training and validation losses end close together (−1.058 and −1.021 for the censored
# network, −1.045 and −1.049 for the full-spectrum one): a gap of 0.04 or less, so neither
# network overfits its 7,200 spectra noticeably. The paper also trained for 60 epochs, on four
# times as many spectra, hence with four times as many weight updates per epoch: if 60 epochs
# suffice here, they sufficed there.
#
# ## What this shows
#
# * Both networks are trained with the paper's hyper-parameters, unchanged, on 7,200 + 800
#   synthetic spectra (the paper's 30,067 + 3,340 real DR14 ones).
# * Censoring restricts each element branch to its ASPCAP windows: about half of the 7,514
#   pixels for C and N, a handful for S, Na, K and Ca.
# * The learning rate is below 1e-6 from epoch 42 (full-spectrum) and 49 (censored). After that
#   the full-spectrum network's validation loss changes by less than its 0.007 epoch-to-epoch
#   spread; the censored network's still varies by more (−1.014 at epoch 49, best −1.036 at
#   epoch 57, −1.021 at epoch 60): 60 epochs suffice, with little to spare for the censored
#   network.
# * Training and validation losses differ by at most 0.04: no sign of overfitting.
