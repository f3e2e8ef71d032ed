"""Fast Monte-Carlo-dropout inference for astroNN's APOGEE Bayesian networks.

:func:`predict` returns what astroNN 1.1.0's ``model.test(x)`` returns for an
``ApogeeBCNNCensored`` or ``ApogeeBCNN`` - the MC-dropout mean and the total, model
(epistemic) and predictive (aleatoric) standard deviations, denormalised - with the same
statistics, several times faster on a CPU.

What astroNN's ``.test()`` computes (``BayesianCNNBase.predict``, astroNN 1.1.0)
---------------------------------------------------------------------------------
* inputs: ``(x - input_mean) / input_std`` in float32 (the model folder's stored arrays;
  ``input_norm_mode`` 3 centres per pixel and keeps std = 1); pixels equal to
  ``MAGIC_NUMBER`` (-9999) or NaN are set to -9999 *after* normalisation;
* ``mc_num`` (100) forward passes with every ``MCDropout`` layer on (``tf.nn.dropout``:
  keep when a uniform >= rate, scale the kept values by 1/(1-rate), independently for every
  element, spectrum and pass);
* per label, over the passes: ``mean`` of the ``output`` head; population variance
  (``tf.nn.moments``, ddof=0) of the ``output`` head = the model variance; mean of the
  ``variance_output`` head, which is a log-variance;
* ``prediction = mean * labels_std + labels_mean`` (entries equal to -9999 or NaN are set to
  -9999 by astroNN's denormaliser), ``model = sqrt(var) * labels_std``,
  ``predictive = sqrt(exp(mean log-variance)) * labels_std``,
  ``total = sqrt(model**2 + predictive**2)``;
* ``inputs_err`` is divided by ``input_std`` (in place, in the caller's array) but then used
  only by networks with an ``input_err`` input, which neither APOGEE network has: the input
  uncertainties do not enter the prediction. :func:`predict` accepts ``x_err`` for the same
  signature, checks its shape, and ignores it likewise (without modifying it);
* the stored "model precision" ``inv_tau`` is not used by ``.test()`` and not here.

How it is made fast
-------------------
Everything before the first dropout layer is deterministic and computed once per spectrum:
the first convolution (1 -> 2 channels) and, in the censored network, the first dense layer
of each of the 19 element branches (each reads its ASPCAP windows, e.g. C 3806 pixels -> 256
units; all folded into one 7514 x 1056 matrix product). Only the rest - 2nd convolution,
pooling, the two trunk dense layers (7512 -> 192 -> 64 in the paper's censored network), the
branches' second dense layers and the heads -
runs for every pass, for all passes of a spectrum at once, in float32 BLAS products:

* the 2 -> 4 channel, length-8 convolution followed by the 4-wide max-pooling is one matrix
  product per pass: the activations are laid out in "super-pixels" of 4 positions
  x 2 channels, so that each pooling window reads 3 consecutive super-pixels (22 used values)
  and produces 4 positions x 4 channels through a 16 x 22 banded (Toeplitz) matrix; pooling
  is then a maximum over 4 contiguous rows;
* the element-wise work between the matrix products runs in compiled kernels
  (:mod:`astronn_paper.model.kernels`, numba, GIL released): the first convolution written straight
  into the super-pixel layout; the dropout masks drawn from the random integers and applied
  while the 3 shifted copies the banded product reads are laid out; pooling, bias, relu and
  the flatten's dropout in one sweep;
* that whole sweep runs on tiles of 4 passes of one spectrum, whose buffers (~0.7 MB) stay
  in the core's cache, and writes the pooled maps of every pass as one row of a
  (passes, 4 x 1881) matrix, so that the 7512 -> 192 dense layer is a single matrix product
  for a work unit of 4 spectra (400 rows at 100 passes, where BLAS reaches its full rate);
* the dropout scale 1/(1-rate) is folded into the weights that follow each dropout layer;
* the dense layer after the flatten takes the pooled maps in (channel, position) order, its
  weight rows permuted once to match Keras' (position, channel) flatten;
* masks are Bernoulli draws from 16-bit random integers (drop when u < round(65536 rate): the
  drop probability is 0.300003 instead of 0.3, a 1e-5 relative difference, far below
  anything measurable with 100 passes), independent for every element, pass and spectrum
  (no mask is shared between spectra, so the MC noise of different stars is independent);
* each spectrum has its own random stream, ``SFC64(SeedSequence(seed, spawn_key=(index,)))``,
  so a star's result depends only on (seed, its index, its pixels), not on batch sizes,
  chunking or worker threads;
* spectra are streamed in chunks (``batch_size``) from any array-like (numpy array, memmap,
  h5py dataset), and worked on by ``workers`` threads (BLAS single-threaded inside each), so
  memory stays bounded (~tens of MB of work buffers plus the outputs).

``deterministic=True`` runs the same code with every dropout layer off (one pass, no
scaling): the deterministic forward pass of the Keras model, used by the equivalence tests.
"""
from __future__ import annotations

import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper.model import kernels
from astronn_paper import config

#: Version of the engine's numerics (recorded in the provenance of predictions).
ENGINE_VERSION = "1.2"
#: Model classes the engine understands.
SUPPORTED_MODELS = ("ApogeeBCNNCensored", "ApogeeBCNN")
#: Files an astroNN model folder must hold.
MODEL_FOLDER_FILES = ("astroNN_model_parameter.json", "model_weights.h5")

_U16 = 65536


class UnsupportedModelError(ValueError):
    """The model is not one the engine can reproduce (architecture, task or activation)."""


class ModelFolderError(ValueError):
    """A model folder that is missing, incomplete or does not match its architecture."""


# ============================================================================ results
@dataclass
class Prediction:
    """Labels and uncertainties of N spectra (denormalised, in the labels' units).

    ``mean`` is the MC-dropout mean; ``total``, ``model`` (epistemic, the MC standard
    deviation) and ``predictive`` (aleatoric, from the network's variance head) are standard
    deviations with ``total**2 = model**2 + predictive**2``, exactly as astroNN's
    ``.test()`` returns them.
    """

    mean: np.ndarray
    total: np.ndarray
    model: np.ndarray
    predictive: np.ndarray
    targetname: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    #: with ``return_samples=True``: every pass's output (N, mc, n_labels), denormalised
    samples: np.ndarray | None = None
    #: with ``return_samples=True``: every pass's log aleatoric variance (N, mc, n_labels),
    #: log of the variance in the labels' units squared
    samples_logvar: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    @property
    def uncertainties(self) -> dict[str, np.ndarray]:
        """``{'total', 'model', 'predictive'}`` as astroNN's ``.test()`` returns them."""
        return {"total": self.total, "model": self.model, "predictive": self.predictive}

    def as_astronn(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(predictions, uncertainties)``: the return value of astroNN's ``.test()``."""
        return self.mean, self.uncertainties

    def __getitem__(self, index) -> "Prediction":
        """The predictions of a subset of the spectra (index, slice or boolean mask)."""
        def pick(a, nd=2):
            return None if a is None else a[index] if np.ndim(a[index]) == nd else a[index][None]
        return Prediction(pick(self.mean), pick(self.total), pick(self.model),
                          pick(self.predictive), self.targetname, dict(self.meta),
                          pick(self.samples, 3), pick(self.samples_logvar, 3))

    def column(self, name: str, kind: str = "mean") -> np.ndarray:
        """One label's ``mean`` / ``total`` / ``model`` / ``predictive`` column by name."""
        j = self.targetname.index(name)
        return getattr(self, kind)[:, j]

    def to_dict(self, ids=None) -> dict[str, np.ndarray]:
        """Flat columns: ``<label>``, ``<label>_err`` (total), ``<label>_err_model``,
        ``<label>_err_predictive`` for each label, preceded by ``id`` if ids are given."""
        out: dict[str, np.ndarray] = {}
        if ids is not None:
            ids = np.asarray(ids)
            if len(ids) != len(self):
                raise ValueError(f"{len(ids)} ids for {len(self)} predictions")
            out["id"] = ids
        for j, name in enumerate(self.targetname):
            out[name] = self.mean[:, j]
            out[f"{name}_err"] = self.total[:, j]
            out[f"{name}_err_model"] = self.model[:, j]
            out[f"{name}_err_predictive"] = self.predictive[:, j]
        return out

    def to_table(self, ids=None):
        """An :class:`astropy.table.Table` of :meth:`to_dict`, provenance in ``meta``, units
        from :data:`astronn_paper.apogee.TARGET_UNITS` where known."""
        from astropy.table import Table

        from astronn_paper import apogee

        table = Table(self.to_dict(ids))
        for name in self.targetname:
            unit = apogee.TARGET_UNITS.get(name)
            for col, what in ((name, "MC-dropout mean"), (f"{name}_err", "total uncertainty"),
                              (f"{name}_err_model", "model (epistemic) uncertainty"),
                              (f"{name}_err_predictive", "predictive (aleatoric) uncertainty")):
                table[col].description = f"{name}: {what}"
                if unit:
                    table[col].unit = unit
        table.meta.update({k: v for k, v in self.meta.items()
                           if isinstance(v, (str, int, float, bool))})
        return table


# ============================================================================ the model graph
def _graph(keras_model):
    """(layer configs by name, parents by name, children by name) of a functional model."""
    cfg = keras_model.get_config()
    layers = {lay["name"]: lay for lay in cfg["layers"]}
    parents: dict[str, list[str]] = {}
    for name, lay in layers.items():
        nodes = lay.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise UnsupportedModelError(f"layer {name!r} is called more than once")
        parents[name] = [n[0] for n in nodes[0]] if nodes else []
    children: dict[str, list[str]] = {name: [] for name in layers}
    for name, ps in parents.items():
        for p in ps:
            children[p].append(name)
    return layers, parents, children


class _Walker:
    """Checks the Keras graph step by step and collects the layers the engine needs."""

    def __init__(self, keras_model):
        self.km = keras_model
        self.layers, self.parents, self.children = _graph(keras_model)

    def cls(self, name: str) -> str:
        return self.layers[name]["class_name"]

    def conf(self, name: str) -> dict:
        return self.layers[name]["config"]

    def layer(self, name: str):
        return self.km.get_layer(name)

    def expect(self, name: str, cls: str, **conf) -> str:
        if self.cls(name) != cls:
            raise UnsupportedModelError(f"layer {name!r} is a {self.cls(name)}, expected {cls}")
        for key, value in conf.items():
            got = self.conf(name).get(key)
            if isinstance(value, tuple):
                got = tuple(got) if isinstance(got, (list, tuple)) else got
            if got != value:
                raise UnsupportedModelError(f"layer {name!r} has {key}={got!r}, expected {value!r}")
        return name

    def only_child(self, name: str, cls: str | None = None) -> str:
        kids = self.children[name]
        if cls is not None:
            kids = [k for k in kids if self.cls(k) == cls]
        if len(kids) != 1:
            raise UnsupportedModelError(f"layer {name!r} has children {self.children[name]}, "
                                        f"expected one{' ' + cls if cls else ''}")
        return kids[0]

    def only_parent(self, name: str) -> str:
        ps = self.parents[name]
        if len(ps) != 1:
            raise UnsupportedModelError(f"layer {name!r} has parents {ps}, expected one")
        return ps[0]

    def weights(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        w = self.layer(name).get_weights()
        if len(w) != 2:
            raise UnsupportedModelError(f"layer {name!r} has no bias")
        return np.asarray(w[0], np.float32), np.asarray(w[1], np.float32)

    def relu(self, name: str) -> str:
        """An Activation('relu') child of ``name``."""
        return self.expect(self.only_child(name), "Activation", activation="relu")

    def dropout_rate(self, name: str) -> float:
        """Rate of the MCDropout layer ``name`` (0 if the layer is disabled)."""
        self.expect(name, "MCDropout")
        lay = self.layer(name)
        if getattr(lay, "noise_shape", None) is not None:
            raise UnsupportedModelError(f"MCDropout {name!r} has a noise_shape")
        if getattr(lay, "disable_layer", False):
            return 0.0
        return float(lay.rate)


@dataclass
class _Branch:
    """One element branch of the censored network."""

    name: str
    pixels: np.ndarray      # boolean window over the input pixels (BoolMask)
    w1: np.ndarray          # (n_window, u1) deterministic first dense (relu)
    b1: np.ndarray
    rate1: float            # dropout after the first dense
    w2: np.ndarray          # (u1, u2) second dense (relu)
    b2: np.ndarray
    rate2: float            # dropout after the second dense
    head_w: list            # per head using this branch: (head column, weights over u2)


@dataclass
class _Architecture:
    """Numpy weights of the network, in the engine's layout."""

    kind: str
    n_pix: int
    conv1_w: np.ndarray     # (k1, c1): 1 input channel
    conv1_b: np.ndarray
    rate_a1: float          # dropout on the first convolution's output
    conv2_w: np.ndarray     # (k2, c1, c2)
    conv2_b: np.ndarray
    pool: int
    rate_flat: float        # dropout on the flattened pooled maps
    w3: np.ndarray          # (n_pool * c2, h3), rows in Keras' (position, channel) order
    b3: np.ndarray
    rate_h3: float
    w4: np.ndarray          # (h3, h4)
    b4: np.ndarray
    head_w: np.ndarray      # (h4, 2 n_out): every head's linear part from the last hidden layer
    head_b: np.ndarray      # (2 n_out,)
    branches: list          # [_Branch] (censored network only)
    n_out: int


def _extract(model) -> _Architecture:
    """Read the weights of an astroNN ApogeeBCNN / ApogeeBCNNCensored, checking the graph."""
    kind = type(model).__name__
    if kind not in SUPPORTED_MODELS:
        raise UnsupportedModelError(
            f"{kind} is not supported: the engine reproduces {', '.join(SUPPORTED_MODELS)}")
    if getattr(model, "task", "regression") != "regression":
        raise UnsupportedModelError(f"task {model.task!r} is not supported (regression only)")
    if model.keras_model is None:
        raise UnsupportedModelError("the model has no Keras model: train or load it first")
    g = _Walker(model.keras_model)
    inputs = [n for n in model.keras_model.input_names if n == "input"]
    if not inputs:
        raise UnsupportedModelError("the Keras model has no input named 'input'")
    inp = inputs[0]
    n_pix = int(model.keras_model.get_layer(inp).output.shape[1])

    # ---- trunk: conv - relu - dropout - conv - relu - pool - flatten - dropout - dense ...
    conv1 = g.expect(g.only_child(inp, "Conv1D"), "Conv1D", padding="same", strides=(1,),
                     dilation_rate=(1,), activation="linear")
    c1w, c1b = g.weights(conv1)
    if c1w.shape[1] != 1:
        raise UnsupportedModelError("the first convolution must see one input channel")
    d1 = g.only_child(g.relu(conv1))
    rate_a1 = g.dropout_rate(d1)
    conv2 = g.expect(g.only_child(d1), "Conv1D", padding="same", strides=(1,),
                     dilation_rate=(1,), activation="linear")
    c2w, c2b = g.weights(conv2)
    pool = g.expect(g.only_child(g.relu(conv2)), "MaxPooling1D", padding="valid")
    pool_size = int(g.conf(pool)["pool_size"][0])
    if tuple(g.conf(pool)["strides"]) != (pool_size,):
        raise UnsupportedModelError("pooling stride must equal the pool size")
    flat = g.expect(g.only_child(pool), "Flatten")
    d2 = g.only_child(flat)
    rate_flat = g.dropout_rate(d2)
    dense3 = g.expect(g.only_child(d2), "Dense", activation="linear")
    w3, b3 = g.weights(dense3)
    d3 = g.only_child(g.relu(dense3))
    rate_h3 = g.dropout_rate(d3)
    dense4 = g.expect(g.only_child(d3), "Dense", activation="linear")
    w4, b4 = g.weights(dense4)
    a4 = g.relu(dense4)
    n_pool = n_pix // pool_size
    if w3.shape[0] != n_pool * c2w.shape[2]:
        raise UnsupportedModelError(f"dense layer after the flatten has {w3.shape[0]} inputs, "
                                    f"expected {n_pool * c2w.shape[2]}")

    # ---- heads: every Dense fed by the last hidden layer
    a4_dense = [k for k in g.children[a4]]
    for k in a4_dense:
        g.expect(k, "Dense")
        if g.conf(k)["activation"] != "linear":
            raise UnsupportedModelError(f"head {k!r} has activation {g.conf(k)['activation']!r}")
    a4_col: dict[str, list[int]] = {}
    cols_w, cols_b = [], []
    for k in a4_dense:
        w, b = g.weights(k)
        a4_col[k] = list(range(sum(c.shape[1] for c in cols_w),
                               sum(c.shape[1] for c in cols_w) + w.shape[1]))
        cols_w.append(w)
        cols_b.append(b)
    A_w = np.concatenate(cols_w, axis=1)      # (h4, n_a4): all dense outputs fed by a4
    A_b = np.concatenate(cols_b)

    def a4_columns(name: str) -> list[int]:
        """Columns of A making up tensor ``name`` (a4 Dense / Concatenate / StopGrad)."""
        c = g.cls(name)
        if name in a4_col:
            return a4_col[name]
        if c == "StopGrad":
            return a4_columns(g.only_parent(name))
        if c == "Concatenate":
            return [i for p in g.parents[name] for i in a4_columns(p)]
        raise UnsupportedModelError(f"layer {name!r} ({c}) is not a function of the last "
                                    "hidden layer")

    branches: dict[str, _Branch] = {}
    outs = [n for n in ("output", "variance_output") if n in g.layers]
    if len(outs) != 2:
        raise UnsupportedModelError("the model has no 'output' and 'variance_output' layers")
    heads: list[tuple[str, str]] = []   # (kind, name) per head column, outputs then variances
    for out in outs:
        if g.cls(out) == "Dense":                 # ApogeeBCNN: one Dense per head
            heads += [("dense", out)]
        else:
            g.expect(out, "Concatenate")
            heads += [("one", p) for p in g.parents[out]]
    # linear map from A (and thus a4) to every head column; branch terms are added apart
    n_a4 = A_w.shape[1]
    blocks, M_b = [], []
    for hkind, name in heads:
        if hkind == "dense" or name in a4_col:   # ApogeeBCNN heads; teff/logg/Fe heads
            idx = a4_col.get(name)
            if idx is None:
                raise UnsupportedModelError(f"head {name!r} is not fed by the last hidden layer")
            block = np.zeros((n_a4, len(idx)))
            block[idx, np.arange(len(idx))] = 1.0
            blocks.append(block)
            M_b += [0.0] * len(idx)
            continue
        # a branch head: Dense(1) on concatenate([dropout(branch dense 2), a4 features])
        g.expect(name, "Dense", units=1, activation="linear")
        par = g.expect(g.only_parent(name), "Concatenate")
        if len(g.parents[par]) != 2:
            raise UnsupportedModelError(f"{par!r} should join a branch and the full-spectrum "
                                        "features")
        drop2, fullspec = g.parents[par]
        w, b = g.weights(name)
        br = _branch(g, drop2, inp, branches)
        u2 = br.w2.shape[1]
        br.head_w.append((sum(bl.shape[1] for bl in blocks), w[:u2, 0].copy()))
        blocks.append(_scatter(a4_columns(fullspec), w[u2:, 0], n_a4)[:, None])
        M_b.append(float(b[0]))
    M = np.concatenate(blocks, axis=1)
    col = M.shape[1]
    n_out = col // 2
    if 2 * n_out != col or n_out != len(model.targetname):
        raise UnsupportedModelError(f"{col} head columns for {len(model.targetname)} targets")
    head_w = (A_w.astype(np.float64) @ M).astype(np.float32)
    head_b = (A_b.astype(np.float64) @ M + np.asarray(M_b)).astype(np.float32)
    return _Architecture(
        kind=kind, n_pix=n_pix, conv1_w=c1w[:, 0, :], conv1_b=c1b, rate_a1=rate_a1,
        conv2_w=c2w, conv2_b=c2b, pool=pool_size, rate_flat=rate_flat, w3=w3, b3=b3,
        rate_h3=rate_h3, w4=w4, b4=b4, head_w=head_w, head_b=head_b,
        branches=list(branches.values()), n_out=n_out)


def _scatter(cols: list[int], values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    if len(cols) != len(values):
        raise UnsupportedModelError("head weights do not match the features they read")
    np.add.at(out, cols, values.astype(np.float64))
    return out


def _branch(g: _Walker, drop2: str, inp: str, branches: dict) -> _Branch:
    """The element branch ending in MCDropout ``drop2`` (parsed once, shared by its heads)."""
    if drop2 in branches:
        return branches[drop2]
    rate2 = g.dropout_rate(drop2)
    dense2 = g.expect(g.only_parent(drop2), "Dense", activation="relu")
    drop1 = g.only_parent(dense2)
    rate1 = g.dropout_rate(drop1)
    dense1 = g.expect(g.only_parent(drop1), "Dense", activation="relu")
    mask = g.expect(g.only_parent(dense1), "BoolMask")
    flat = g.expect(g.only_parent(mask), "Flatten")
    if g.only_parent(flat) != inp:
        raise UnsupportedModelError(f"branch {dense1!r} does not read the input spectrum")
    pixels = np.asarray(g.layer(mask).boolmask, bool)
    w1, b1 = g.weights(dense1)
    w2, b2 = g.weights(dense2)
    if w1.shape[0] != pixels.sum():
        raise UnsupportedModelError(f"branch {dense1!r}: {w1.shape[0]} weights for "
                                    f"{pixels.sum()} window pixels")
    br = _Branch(name=dense1, pixels=pixels, w1=w1, b1=b1, rate1=rate1, w2=w2, b2=b2,
                 rate2=rate2, head_w=[])
    branches[drop2] = br
    return br


# ============================================================================ the engine
def _threshold(rate: float) -> int:
    """uint16 threshold: an element is dropped when its 16-bit random integer is below it."""
    return int(round(rate * _U16))


def _keep(rate: float) -> float:
    """Scale of the kept values (1/(1-rate)) for the drop probability actually used."""
    return 1.0 - _threshold(rate) / _U16


class Engine:
    """MC-dropout inference engine for one astroNN ApogeeBCNN / ApogeeBCNNCensored.

    Built once from the model (weights are copied out of Keras; the model is not needed
    afterwards); :meth:`predict` runs on any number of spectra.
    """

    def __init__(self, model):
        self.arch = a = _extract(model)
        self.targetname = tuple(model.targetname)
        self.model_class = a.kind
        self.folder = str(getattr(model, "fullfilepath", "") or "")
        # normalisation (astroNN's Normalizer: float32 (x - mean) / std)
        self.input_mean = np.asarray(model.input_mean["input"], np.float64).reshape(-1)
        self.input_std = np.asarray(model.input_std["input"], np.float64).reshape(-1)
        self.labels_mean = np.asarray(model.labels_mean["output"], np.float64).reshape(-1)
        self.labels_std = np.asarray(model.labels_std["output"], np.float64).reshape(-1)
        from astroNN.config import MAGIC_NUMBER

        self.magic = float(MAGIC_NUMBER)
        self._build()

    # ------------------------------------------------------------------ layouts
    def _build(self) -> None:
        a = self.arch
        P, (k2, c1, c2) = a.pool, a.conv2_w.shape
        self.k1 = a.conv1_w.shape[0]
        self.pad1 = (self.k1 - 1) // 2                # Keras 'same': left pad (k-1)//2
        self.pad2 = (k2 - 1) // 2
        self.n_pool = a.n_pix // P
        # super-pixels of P positions x c1 channels over the padded first-conv output
        self.n_sp = -(-(a.n_pix + k2 - 1) // P)       # ceil
        self.win = (P + k2 - 1) * c1                  # values one pooling window reads
        self.n_shift = -(-(P + k2 - 1) // P)          # super-pixels one window spans
        self.n_valid = self.n_pool                    # windows q < n_pool are real
        self.c1, self.c2 = c1, c2
        self.sp_rows = P * c1
        self._w1 = np.ascontiguousarray(a.conv1_w.reshape(self.k1, c1), np.float32)
        self._b1 = np.ascontiguousarray(a.conv1_b, np.float32)
        # Toeplitz matrix: (P*c2 outputs [r*c2 + co], win inputs [m*c1 + c])
        G = np.zeros((P * c2, self.win), np.float64)
        for r in range(P):
            for k in range(k2):
                m = r + k
                for c in range(c1):
                    G[r * c2:(r + 1) * c2, m * c1 + c] = a.conv2_w[k, c, :]
        self._G = G
        # dense after flatten: Keras rows q*c2 + co -> engine rows co*n_sp + q (zero q >= n_pool)
        h3 = a.w3.shape[1]
        W3 = np.zeros((c2, self.n_sp, h3), np.float64)
        W3[:, :self.n_pool, :] = a.w3.reshape(self.n_pool, c2, h3).transpose(1, 0, 2)
        self._W3 = W3.reshape(c2 * self.n_sp, h3)
        # branches, grouped by shape; their first dense folded into one matrix over pixels
        groups: dict[tuple[int, int], list[_Branch]] = {}
        for br in a.branches:
            groups.setdefault((br.w1.shape[1], br.w2.shape[1]), []).append(br)
        self._groups = list(groups.items())
        if a.branches:
            n1 = sum(br.w1.shape[1] for br in a.branches)
            Wb = np.zeros((a.n_pix, n1), np.float32)
            bb = np.zeros(n1, np.float32)
            col = 0
            for _, brs in self._groups:
                for br in brs:
                    u1 = br.w1.shape[1]
                    Wb[br.pixels, col:col + u1] = br.w1
                    bb[col:col + u1] = br.b1
                    col += u1
            self._Wb, self._bb = Wb, bb
        # every dropout layer must be either on or off together with its rate
        self._weights_cache: dict[bool, dict] = {}

    def _weights(self, deterministic: bool) -> dict:
        """float32 weights with each dropout's 1/(1-rate) folded into the next layer."""
        if deterministic in self._weights_cache:
            return self._weights_cache[deterministic]
        a = self.arch
        s = (lambda rate: 1.0) if deterministic else (lambda rate: 1.0 / _keep(rate))
        f32 = (lambda v: np.ascontiguousarray(v, dtype=np.float32))
        w = {
            "G": f32(self._G * s(a.rate_a1)),
            "W3": f32(self._W3 * s(a.rate_flat)),
            "W4": f32(a.w4.astype(np.float64) * s(a.rate_h3)),
            "groups": [],
        }
        for (u1, u2), brs in self._groups:
            n_heads = {len(br.head_w) for br in brs}
            if len(n_heads) != 1:
                raise UnsupportedModelError("branches of one shape feed different numbers of heads")
            nh = n_heads.pop()
            Wh = np.zeros((len(brs), u2, nh))
            cols = np.zeros((len(brs), nh), int)
            for i, br in enumerate(brs):
                for h, (c, hw) in enumerate(br.head_w):
                    Wh[i, :, h] = hw * s(br.rate2)
                    cols[i, h] = c
            w["groups"].append({
                "u1": u1, "u2": u2, "n": len(brs),
                "W2": f32(np.stack([br.w2.astype(np.float64) * s(br.rate1) for br in brs])),
                "B2": f32(np.stack([br.b2 for br in brs])[:, None, :]),
                "Wh": f32(Wh), "cols": cols.ravel(),
                "thr1": _row_thr([br.rate1 for br in brs], u1),
                "thr2": _row_thr([br.rate2 for br in brs], u2),
            })
        self._weights_cache[deterministic] = w
        return w

    # ------------------------------------------------------------------ cost model
    def macs_per_pass(self) -> int:
        """Multiply-accumulates of the stochastic part of one pass (the real layer sizes)."""
        a = self.arch
        k2, c1, c2 = a.conv2_w.shape
        m = a.n_pix * k2 * c1 * c2 + a.w3.size + a.w4.size + a.head_w.size
        m += sum(br.w2.size + br.w2.shape[1] * 2 for br in a.branches)
        return int(m)

    def macs_prefix(self) -> int:
        """Multiply-accumulates of the deterministic part (once per spectrum)."""
        a = self.arch
        return int(a.n_pix * self.k1 * a.conv1_w.shape[1] + sum(br.w1.size for br in a.branches))

    def flops_per_spectrum(self, mc: int = 100) -> float:
        """Useful floating-point operations (2 per MAC) for one spectrum and ``mc`` passes."""
        return 2.0 * (self.macs_prefix() + mc * self.macs_per_pass())

    # ------------------------------------------------------------------ deterministic prefix
    def normalise(self, x: np.ndarray) -> np.ndarray:
        """astroNN's input normalisation: float32 (x - mean) / std; -9999 and NaN -> -9999."""
        x = np.array(x, dtype=np.float32)             # a copy: never touch the caller's data
        magic = (x == self.magic) | np.isnan(x)
        x -= self.input_mean
        x /= self.input_std
        if magic.any():
            x[magic] = self.magic
        return x

    def _prefix(self, xn: np.ndarray):
        """First convolution in super-pixel layout (n, P*c1, n_sp) and branch inputs."""
        a = self.arch
        a1 = np.empty((xn.shape[0], self.sp_rows, self.n_sp), np.float32)
        kernels.conv1_superpixels(xn, self._w1, self._b1, self.pad1, self.pad2, a1)
        h = None
        if a.branches:
            h = xn @ self._Wb
            h += self._bb
            np.maximum(h, 0, out=h)
        return a1, h

    # ------------------------------------------------------------------ stochastic suffix
    def _layout(self) -> dict[str, tuple[int, int]]:
        """Offsets of each stage's random integers within one pass's uint16 draws."""
        a = self.arch
        sizes = [("a1", self.sp_rows * self.n_sp), ("flat", self.c2 * self.n_sp),
                 ("h3", a.w3.shape[1])]
        for gi, ((u1, u2), brs) in enumerate(self._groups):
            sizes += [(f"b1_{gi}", len(brs) * u1), (f"b2_{gi}", len(brs) * u2)]
        off, lay = 0, {}
        for name, size in sizes:
            lay[name] = (off, off + size)
            off += size
        lay["_total"] = (0, -(-off // 4) * 4)          # whole uint64 words per pass
        return lay

    def _block(self, a1, h, index, mc, seed, weights, deterministic, buf):
        """Outputs and log-variances (n, mc, 2 n_out) of the n spectra of one work unit."""
        a = self.arch
        n = a1.shape[0]
        R = n * mc
        n_sp, rows, c2, P = self.n_sp, self.sp_rows, self.c2, a.pool
        lay = self._layout()
        width = lay["_total"][1]
        if deterministic:
            U = [None] * n
        else:   # one independent random stream per spectrum: (mc, draws per pass) uint16
            words = width // 4 * mc
            U = [np.random.Generator(np.random.SFC64(np.random.SeedSequence(
                    seed, spawn_key=(int(i),)))).bit_generator.random_raw(words)
                 .view(np.uint16).reshape(mc, width) for i in index]

        def keep_mask(stage, s, thr, shape, p0=0, p1=None):
            """Keep-mask (bool) of a stage for spectrum s and passes p0..p1: (passes,) + shape."""
            o0, o1 = lay[stage]
            u = U[s][p0:p1, o0:o1]
            return (u >= np.ravel(thr)).reshape((u.shape[0],) + shape)

        # ---- conv 2 + relu + max-pool + dropout, tile by tile (a few passes, cache-resident)
        # pooled maps, one row per pass: (R, c2 * n_sp) in the engine's (channel, position) order
        if buf.get("R", 0) != R:
            buf["pooled"] = np.empty((R, c2, n_sp), np.float32)
            buf["R"] = R
        pooled = buf["pooled"]
        tile = buf["tile"]
        if "C" not in buf:
            buf["C"] = np.empty((tile, self.win, n_sp), np.float32)
            buf["conv"] = np.empty((tile, P * c2, n_sp), np.float32)
            buf["keep_all"] = np.zeros((1, width), np.uint16)    # threshold 0 keeps everything
        if deterministic:
            thr_a1 = thr_flat = np.uint16(0)
        else:
            thr_a1, thr_flat = np.uint16(_threshold(a.rate_a1)), np.uint16(_threshold(a.rate_flat))
        bias2 = np.ascontiguousarray(a.conv2_b, np.float32)
        (o_a1, _), (o_flat, _) = lay["a1"], lay["flat"]
        for s in range(n):
            u_s = buf["keep_all"] if U[s] is None else U[s]
            for t0 in range(0, mc, tile):
                nt = min(tile, mc - t0)
                u_t = u_s[t0:t0 + nt]
                C = kernels.masked_windows(a1[s], u_t, o_a1, thr_a1, self.n_shift, buf["C"][:nt])
                conv = np.matmul(weights["G"], C, out=buf["conv"][:nt])   # (nt, P*c2, n_sp)
                kernels.pool_relu_dropout(conv, bias2, self.n_pool, u_t, o_flat, thr_flat,
                                           pooled[s * mc + t0:s * mc + t0 + nt])
        # ---- dense layers
        h3 = _view(pooled, (R, c2 * n_sp)) @ weights["W3"]
        h3 += a.b3
        np.maximum(h3, 0, out=h3)
        for s in range(n):
            if U[s] is not None:
                h3[s * mc:(s + 1) * mc] *= keep_mask("h3", s, _threshold(a.rate_h3),
                                                     (h3.shape[1],))
        a4 = h3 @ weights["W4"]
        a4 += a.b4
        np.maximum(a4, 0, out=a4)
        heads = a4 @ a.head_w
        heads += a.head_b
        # ---- element branches (censored network), grouped by layer shape
        col = 0
        for gi, gw in enumerate(weights["groups"]):
            G, u1, u2 = gw["n"], gw["u1"], gw["u2"]
            hg = h[:, col:col + G * u1].reshape(n, G, 1, u1)
            col += G * u1
            x1 = np.empty((G, R, u1), np.float32)
            for s in range(n):
                dst = x1[:, s * mc:(s + 1) * mc]
                if U[s] is None:
                    dst[:] = hg[s]
                else:
                    keep = keep_mask(f"b1_{gi}", s, gw["thr1"], (G, u1)).transpose(1, 0, 2)
                    np.multiply(hg[s], keep, out=dst)
            x2 = np.matmul(x1, gw["W2"])                    # (G, R, u2)
            x2 += gw["B2"]
            np.maximum(x2, 0, out=x2)
            for s in range(n):
                if U[s] is not None:
                    keep = keep_mask(f"b2_{gi}", s, gw["thr2"], (G, u2)).transpose(1, 0, 2)
                    x2[:, s * mc:(s + 1) * mc] *= keep
            contrib = np.matmul(x2, gw["Wh"])               # (G, R, heads per branch)
            heads[:, gw["cols"]] += contrib.transpose(1, 0, 2).reshape(R, -1)
        return heads.reshape(n, mc, 2 * a.n_out)

    # ------------------------------------------------------------------ public
    def predict(self, x, x_err=None, mc: int = 100, seed: int | None = None,
                batch_size: int | None = None, progress: bool = True,
                deterministic: bool = False, workers: int | None = None,
                start_index: int = 0, return_samples: bool = False) -> Prediction:
        """MC-dropout prediction of the spectra ``x`` (N, n_pix) or (N, n_pix, 1).

        ``x`` may be any array-like that supports ``shape`` and slicing by rows (numpy,
        memmap, h5py dataset): it is read ``batch_size`` spectra at a time. ``seed`` (default
        ``config.seed_for("infer")``) and the spectrum's index (``start_index`` + row) fix its
        random masks. ``x_err`` is checked and ignored, as by astroNN (see module docstring).
        ``deterministic`` turns every dropout off (one pass; ``model`` is then zero).
        ``return_samples`` also keeps every pass's outputs (N x mc x 2 x n_labels floats:
        for small N only).
        """
        from tqdm import tqdm  # text bars: readable in notebooks on nbviewer, no ipywidgets needed

        from astronn_paper import config

        shape = tuple(getattr(x, "shape", np.shape(x)))
        if len(shape) == 1:
            x = np.asarray(x)[None, :]
            shape = (1,) + shape
        if len(shape) == 3 and shape[2] == 1:
            pass
        elif len(shape) != 2:
            raise ValueError(f"spectra must have shape (N, {self.arch.n_pix}), got {shape}")
        if shape[1] != self.arch.n_pix:
            raise ValueError(f"spectra have {shape[1]} pixels, the model expects "
                             f"{self.arch.n_pix} (gap-deleted APOGEE pixels)")
        if x_err is not None and tuple(np.shape(x_err))[:2] != shape[:2]:
            raise ValueError(f"x_err has shape {np.shape(x_err)}, spectra {shape}")
        mc = 1 if deterministic else int(mc)
        if mc < 2 and not deterministic:
            raise ValueError("mc must be at least 2 (astroNN refuses fewer passes too)")
        if seed is None:
            seed = config.seed_for("infer")
        seed = int(seed)
        N = int(shape[0])
        batch_size = int(batch_size or 256)
        workers = int(workers or max(1, min(2, len(os.sched_getaffinity(0)))))
        weights = self._weights(deterministic)
        n_out = self.arch.n_out
        mean = np.empty((N, n_out))
        var = np.empty((N, n_out))
        logvar = np.empty((N, n_out))
        samples = np.empty((N, mc, 2 * n_out), np.float32) if return_samples else None
        per_block = max(1, math.ceil(400 / mc))       # spectra per work unit (~400 rows)
        tile = max(1, min(mc, 4))                      # passes per cache-resident tile (~0.7 MB)
        local = threading.local()

        def work(a1, h, rows, idx):
            buf = getattr(local, "buf", None)
            if buf is None:
                buf = local.buf = {"tile": tile}
            res = self._block(a1, h, idx, mc, seed, weights, deterministic, buf)
            if samples is not None:
                samples[rows] = res
            res = res.astype(np.float64)
            out, lv = res[..., :n_out], res[..., n_out:]
            mean[rows] = out.mean(axis=1)
            var[rows] = out.var(axis=1)            # population variance, as tf.nn.moments
            logvar[rows] = lv.mean(axis=1)
            return len(idx)

        t_start = time.perf_counter()
        from threadpoolctl import threadpool_limits

        bar = tqdm(total=N, unit="spectra", disable=not progress, desc="MC-dropout inference",
                   postfix={"mc": mc})
        with threadpool_limits(limits=1, user_api="blas"), \
                ThreadPoolExecutor(max_workers=workers) as pool:
            pending = []
            for c0 in range(0, N, batch_size):
                c1 = min(N, c0 + batch_size)
                xc = np.asarray(x[c0:c1], dtype=np.float32).reshape(c1 - c0, -1)
                if not np.isfinite(xc[~np.isnan(xc)]).all():
                    raise ValueError(f"spectra {c0}..{c1 - 1} contain infinite pixels")
                a1, h = self._prefix(self.normalise(xc))
                for b0 in range(0, c1 - c0, per_block):
                    b1 = min(c1 - c0, b0 + per_block)
                    idx = np.arange(start_index + c0 + b0, start_index + c0 + b1)
                    pending.append(pool.submit(work, a1[b0:b1], None if h is None else h[b0:b1],
                                               slice(c0 + b0, c0 + b1), idx))
                # bounded memory: wait for this chunk before reading far ahead
                while len(pending) > 2 * workers + math.ceil(batch_size / per_block):
                    bar.update(pending.pop(0).result())
            for f in pending:
                bar.update(f.result())
        bar.close()
        elapsed = time.perf_counter() - t_start

        # ---- astroNN's statistics
        std = self.labels_std
        pred = mean * std + self.labels_mean
        pred[(mean == self.magic) | np.isnan(mean)] = self.magic    # astroNN's denormaliser
        model_var = var * std**2
        pred_var = np.exp(logvar) * std**2
        meta = {
            "engine": f"astronn_paper.model.engine {ENGINE_VERSION}", "model_class": self.model_class,
            "model_folder": self.folder, "mc": mc, "seed": seed, "deterministic": deterministic,
            "n_spectra": N, "seconds": round(elapsed, 3), "start_index": int(start_index),
            "mask_rng": "SFC64(SeedSequence(seed, spawn_key=(index,))), uint16 thresholds",
        }
        result = Prediction(mean=pred, total=np.sqrt(model_var + pred_var),
                            model=np.sqrt(model_var), predictive=np.sqrt(pred_var),
                            targetname=self.targetname, meta=meta)
        if samples is not None:
            result.samples = samples[..., :n_out] * std + self.labels_mean
            result.samples_logvar = samples[..., n_out:] + 2 * np.log(std)
        return result


def _row_thr(rates: list[float], u: int) -> np.ndarray:
    """uint16 thresholds of G branches broadcast over their (G, u) units."""
    return np.repeat(np.asarray([_threshold(r) for r in rates], np.uint16)[:, None], u, axis=1)


def _view(a: np.ndarray, shape: tuple) -> np.ndarray:
    """Reshape that is guaranteed to be a view (raises instead of silently copying)."""
    v = a.view()
    v.shape = shape
    return v


# ============================================================================ entry points
def check_model_folder(folder) -> Path:
    """Validate an astroNN model folder before loading it; raise :class:`ModelFolderError`."""
    import json

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    missing = [f for f in MODEL_FOLDER_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelFolderError(f"model folder {folder} lacks {', '.join(missing)}: it is not a "
                               "complete astroNN model folder")
    try:
        params = json.loads((folder / MODEL_FOLDER_FILES[0]).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder / MODEL_FOLDER_FILES[0]} is not valid JSON: {exc}") from None
    ident = params.get("id")
    if ident not in SUPPORTED_MODELS:
        raise ModelFolderError(f"model folder {folder} holds a {ident!r}; supported: "
                               f"{', '.join(SUPPORTED_MODELS)}")
    for key in ("input", "labels", "input_mean", "input_std", "labels_mean", "labels_std",
                "targetname"):
        if key not in params:
            raise ModelFolderError(f"{folder / MODEL_FOLDER_FILES[0]} has no {key!r}")
    import h5py

    try:
        with h5py.File(folder / "model_weights.h5", "r") as f:
            if "model_config" not in f.attrs:
                raise ModelFolderError(f"{folder / 'model_weights.h5'} has no Keras model config")
    except OSError as exc:
        raise ModelFolderError(f"{folder / 'model_weights.h5'} is not a readable HDF5 file "
                               f"({exc})") from None
    return folder


def _seed_if_deterministic() -> None:
    """With TF op determinism on (``TF_DETERMINISTIC_OPS=1``, e.g. inherited from a process
    that trained a network) every random op needs a global seed, and building astroNN's
    MCDropout layers in ``load_folder`` would fail without one. Set a fixed one then (the
    engine seeds its own dropout masks; nothing else is drawn while loading)."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    from astronn_paper import config

    on = os.environ.get("TF_DETERMINISTIC_OPS", "").lower() in ("1", "true")
    try:
        on = on or tf.config.experimental.is_op_determinism_enabled()
    except AttributeError:  # pragma: no cover - older TF
        pass
    if on and context.global_seed() is None:
        tf.random.set_seed(config.seed_for("load_model"))


#: Warnings of ``load_folder`` that are expected for this project's model folders (regexes).
LOAD_WARNINGS = ("Error in loading the saved optimizer state",
                 config.UNSEEDED_INITIALIZER_WARNING)


def load_model(folder):
    """``astroNN.models.load_folder`` with validation and clear errors (no network access)."""
    import contextlib
    import io

    folder = check_model_folder(folder)
    from astroNN.models import load_folder

    _seed_if_deterministic()
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # expected, not a problem: the shipped folders hold weights only (the optimizer
            # state is stripped), and Keras re-creates the layers' initializers while building
            for message in LOAD_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            model = load_folder(str(folder))
    except Exception as exc:   # noqa: BLE001 - anything astroNN/Keras raises on a bad folder
        raise ModelFolderError(f"cannot load the astroNN model in {folder}: "
                               f"{type(exc).__name__}: {exc}") from None
    try:
        Engine(model)
    except UnsupportedModelError as exc:
        raise ModelFolderError(f"model in {folder}: {exc}") from None
    return model


def engine(model) -> Engine:
    """The (cached) :class:`Engine` of an astroNN model object or a model folder path."""
    if isinstance(model, Engine):
        return model
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    eng = getattr(model, "_astronn_paper_engine", None)
    if eng is None or getattr(model, "_astronn_paper_engine_keras", None) is not model.keras_model:
        eng = Engine(model)
        model._astronn_paper_engine = eng
        model._astronn_paper_engine_keras = model.keras_model
    return eng


def predict(model, x, x_err=None, mc: int = 100, seed: int | None = None,
            batch_size: int | None = None, progress: bool = True,
            deterministic: bool = False, workers: int | None = None,
            start_index: int = 0, return_samples: bool = False) -> Prediction:
    """MC-dropout predictions of an astroNN ApogeeBCNNCensored / ApogeeBCNN for spectra x.

    ``model`` is an astroNN model object (from ``load_folder`` or freshly trained), a model
    folder, or an :class:`Engine`. Same statistics as ``model.test(x)`` with ``mc_num = mc``;
    see :meth:`Engine.predict` for the arguments.
    """
    return engine(model).predict(x, x_err=x_err, mc=mc, seed=seed, batch_size=batch_size,
                                 progress=progress, deterministic=deterministic,
                                 workers=workers, start_index=start_index,
                                 return_samples=return_samples)
