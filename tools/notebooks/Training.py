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
from astronn_paper.analysis import convergence
from astronn_paper.analysis.verdicts import names, num, verdict
from astronn_paper.model import train
from astronn_paper.figures import save
from astronn_paper.figures import training as figs

P = config.get_profile(profile)
print(f"profile: {P.name}  (epochs {P.epochs}, training spectra {P.n_train or 'all'})")
_ = verdict("This run (profile `{name}`) trains for {epochs} epochs (the paper: 60) on {n} training "
            "spectra, {share} of the paper's 33,407.", name=P.name, epochs=P.epochs,
            n=f"{P.n_train:,}" if P.n_train else "all the",
            share=f"{100 * (P.n_train or 33407) / 33407:.0f} %")

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
# from the data (the synthetic survey and the smaller training set), not from the networks.

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

# %%
prov = train.read_provenance(folders["censored"])
n_train, n_val = prov["n_train"], prov["n_validation"]
verdict("""**Verdict.** Both networks train on {n_train:,} synthetic spectra and validate on {n_val:,}
(the paper: 30,067 and 3,340 real DR14 spectra), for {epochs} epochs. Each run's wall time is recorded
in its provenance; it measures the machine's load as much as the network. The folder names are the
paper's (`astroNN_0617_run001` for the censored network, `astroNN_0606_run001` for the full-spectrum
one), so the later notebooks read them as the paper's code did.""",
        n_train=n_train, n_val=n_val, epochs=prov["network"]["epochs"])

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

# %%
conv = {"full-spectrum": convergence.convergence(histories["ApogeeBCNN"],
                                                 figs.epoch_lr_below(histories["ApogeeBCNN"])),
        "censored": convergence.convergence(histories["ApogeeBCNNCensored"],
                                            figs.epoch_lr_below(histories["ApogeeBCNNCensored"]))}
slow = {k: c.slow for k, c in conv.items() if c.slow is not None}
gap = max(c.gap for c in conv.values())
moving = [k for k, c in conv.items() if not c.settled]
verdict("""**Verdict.** {rate}

{runs}

The training and validation losses end at {losses}: a gap of {gap} or less, {overfit} {paper_epochs}

## What this shows

* Both networks are trained with the paper's hyper-parameters, unchanged, on {n_train:,} + {n_val:,}
  synthetic spectra (the paper's 30,067 + 3,340 real DR14 ones), for {epochs} epochs.
* Censoring restricts each element branch to its ASPCAP windows: about half of the 7,514 pixels for
  C and N, a handful for S, Na, K and Ca.
* {summary}
* Training and validation losses differ by at most {gap}: {overfit_short}""",
        rate=("The learning rate drops below 1e-6, a small fraction of the starting 5e-4, at epoch "
              + names(f"{e} ({k})" for k, e in slow.items())
              + "; from there an epoch hardly moves the weights." if slow else
              "The learning rate stays above 1e-6 for the whole run, too short to judge convergence."),
        runs="\n\n".join("* " + convergence.sentence(k, c) for k, c in conv.items()),
        losses=names(f"{num(c.train_last)} and {num(c.last)} ({k})" for k, c in conv.items()),
        gap=num(gap, ".2f"),
        overfit=("so neither network overfits its training spectra noticeably." if gap <= 0.05 else
                 "larger than the epoch-to-epoch spread: the networks may overfit, or are not converged."),
        overfit_short="no sign of overfitting." if gap <= 0.05 else "a possible sign of overfitting.",
        n_train=n_train, n_val=n_val, epochs=prov["network"]["epochs"],
        paper_epochs=("The paper trained for 60 epochs on 30,067 spectra, hence with more weight updates per "
                      "epoch than here: if 60 epochs suffice here, they sufficed there." if slow else ""),
        summary=("The learning rate is negligible from epoch " + names(f"{e} ({k})" for k, e in slow.items())
                 + "; " + ("the " + names(moving)
                           + " network's validation loss still varies by more than its "
                           "epoch-to-epoch spread after that, so the last epochs are not idle for it."
                           if moving else "after that the validation losses change by less than their "
                           "epoch-to-epoch spread: the last epochs change nothing.")
                 if slow else "The run is too short for the learning rate to become negligible."))

# %% [markdown]
# `Inference_highSNR.ipynb` tests these two networks on the high-SNR test set, label by label.
