"""The Keras graph of an astroNN ``ApogeeBCNNCensored`` / ``ApogeeBCNN``, walked into the
arrays the inference engine computes with (:func:`_extract`), or refused with
:class:`UnsupportedModelError` when the engine cannot reproduce it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astronn_paper import config

#: Model classes the engine understands.
SUPPORTED_MODELS = ("ApogeeBCNNCensored", "ApogeeBCNN")


class UnsupportedModelError(config.UserValueError):
    """The model is not one the engine can reproduce (architecture, task or activation)."""


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
