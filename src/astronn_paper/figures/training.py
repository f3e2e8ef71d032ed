"""Figures of Training.ipynb: loss curves, learning-rate schedule, the censoring windows."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.figures.style import figure_function

#: Learning rate below which an epoch barely moves the weights (1/500 of the paper's 5e-4).
LR_NEGLIGIBLE = 1e-6


def epoch_lr_below(history, threshold: float = LR_NEGLIGIBLE) -> int | None:
    """First epoch (counted from 1) trained with a learning rate below ``threshold``, or None."""
    below = (history["lr"] < threshold).to_numpy()
    return int(history["epoch"].to_numpy()[below.argmax()] + 1) if below.any() else None


@figure_function
def loss_curves(histories: dict):
    """Training and validation loss (astroNN's robust loss) and the learning rate per epoch.

    ``histories`` maps a network label to its ``training_history.csv`` DataFrame.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.2, 4.4))
    for (label, h), color in zip(histories.items(), ("C0", "C1", "C2", "C3")):
        epoch = h["epoch"] + 1
        ax1.plot(epoch, h["output_loss"], color=color, label=f"{label}: training")
        ax1.plot(epoch, h["val_output_loss"], color=color, ls="--", label=f"{label}: validation")
        ax2.plot(epoch, h["lr"], color=color, label=label, drawstyle="steps-mid")
        slow = epoch_lr_below(h)
        if slow is not None:
            ax1.axvline(slow, ymax=0.55, color=color, lw=0.9, ls=":",
                        label=f"{label}: learning rate < {LR_NEGLIGIBLE:.0e} from epoch {slow}")
    # the y range from epoch 2 on: epoch 1's loss is far above and would flatten the rest
    later = np.concatenate([np.r_[h["output_loss"].to_numpy()[1:], h["val_output_loss"].to_numpy()[1:]]
                            for h in histories.values()])
    later = later[np.isfinite(later)]
    if later.size:
        lo, hi = later.min(), later.max()
        ax1.set_ylim(lo - 0.08 * (hi - lo), hi + 0.35 * (hi - lo))
        first = max(float(np.nanmax(h["output_loss"].to_numpy()[:1])) for h in histories.values())
        if first > ax1.get_ylim()[1]:
            ax1.annotate(f"epoch 1: {first:.3g} (off scale)", (1, ax1.get_ylim()[1]), xytext=(4, -14),
                         textcoords="offset points", fontsize=9, color="0.35",
                         arrowprops=dict(arrowstyle="->", color="0.5", lw=0.8))
    ax1.set(xlabel="epoch", ylabel="loss of the label head\n(robust, normalised labels)",
            title="Training and validation loss")
    ax1.legend(fontsize=9, loc="upper right")
    ax2.axhline(LR_NEGLIGIBLE, color="0.5", lw=0.8, ls=":")
    ax2.text(1, LR_NEGLIGIBLE * 1.3, f"{LR_NEGLIGIBLE:.0e} (1/500 of the initial rate)",
             fontsize=9, color="0.35")
    ax2.set(xlabel="epoch", ylabel="learning rate", yscale="log",
            title="astroNN's schedule: halve after\n2 epochs without progress")
    ax2.legend(fontsize=9, loc="center left")
    fig.tight_layout()
    return fig


#: Colour groups of the censoring-window figure: the molecular bands that carry C, N and O in
#: the H band (CO, CN, OH), iron's many Fe I lines, and every other element's atomic lines.
WINDOW_GROUPS = (
    ("molecular bands: C (CO), N (CN), O (OH)", ("C", "N", "O"), "C3"),
    ("Fe I lines", ("Fe",), "C1"),
    ("atomic lines of the other elements", None, "C0"),
)


def window_group(element: str) -> tuple[str, str]:
    """(legend label, colour) of ``element`` in :func:`censoring_windows`."""
    for label, members, color in WINDOW_GROUPS:
        if members is None or element in members:
            return label, color
    raise AssertionError("unreachable")


@figure_function
def censoring_windows():
    """Which of the 7514 input pixels each element's branch of the censored network sees,
    coloured by the kind of feature (legend), with the number of pixels at right."""
    windows = apogee.aspcap_windows()
    lam = apogee.kept_wavelength()
    elems = list(apogee.ABUNDANCES)
    fig, ax = plt.subplots(figsize=(9.2, 6.4), layout="constrained")
    seen = set()
    order = [g[0] for g in WINDOW_GROUPS]
    for i, e in enumerate(elems):
        w = windows[e]
        label, color = window_group(e)
        ax.scatter(lam[w], np.full(w.sum(), i), marker="|", s=60, lw=0.6, color=color,
                   label=None if label in seen else label)
        seen.add(label)
        ax.text(17005, i, f"{w.sum():,}", va="center", fontsize=9)
    ax.text(17005, -1, "pixels", va="center", fontsize=9)
    ax.set_yticks(range(len(elems)), [apogee.TARGET_LATEX[e] for e in elems], fontsize=9)
    ax.set_xlim(lam.min() - 20, 17090)
    ax.set_ylim(len(elems) - 0.4, -1.6)
    ax.set_xlabel(r"wavelength ($\AA$)")
    ax.set_ylabel("element branch")
    ax.set_title("Censoring: each element branch sees only its ASPCAP windows "
                 f"(out of {lam.size:,} pixels)")
    handles, labels = ax.get_legend_handles_labels()
    pairs = sorted(zip(labels, handles), key=lambda lh: order.index(lh[0]))
    fig.legend([h for _, h in pairs], [lab for lab, _ in pairs], loc="outside lower center",
               ncol=len(WINDOW_GROUPS), fontsize=9, frameon=False, markerscale=1.5)
    return fig


def _layers(model_config: dict) -> dict:
    out = {}
    for layer in model_config["config"]["layers"]:
        nodes = layer.get("inbound_nodes") or []
        inbound = [n[0] for n in nodes[0]] if nodes else []
        out[layer["config"]["name"]] = (layer["class_name"], layer["config"], inbound)
    return out


def network_layout(model_config: dict) -> dict:
    """The network as the schematic draws it, read from the layer configuration alone:
    ``trunk``: [(description, output shape)] from the spectrum to the shared features;
    ``heads``: the labels read from the trunk (Teff, log g, [Fe/H] in the censored network);
    ``branches``: {element: [Dense widths]} of each censored element branch (a ``BoolMask`` of
    the input, then Dense layers, then one output unit that also sees the heads' outputs);
    ``n_layers``: how many layers the configuration holds."""
    layers = _layers(model_config)
    consumers: dict[str, list[str]] = {}
    for name, (_, _, inbound) in layers.items():
        for i in inbound:
            consumers.setdefault(i, []).append(name)
    inp = next(n for n, (cls, cfg, _) in layers.items()
               if cls == "InputLayer" and len(cfg.get("batch_input_shape", [])) == 3)
    shape = tuple(layers[inp][1]["batch_input_shape"][1:])
    trunk = [("input spectrum", shape)]
    name = inp
    while True:    # follow the convolutional trunk (skip the direct Flatten that feeds the masks)
        nxt = [c for c in consumers.get(name, []) if layers[c][0] != "Flatten" or name != inp]
        nxt = [c for c in nxt if layers[c][0] not in ("BoolMask",)]
        if len(nxt) != 1:
            break
        name = nxt[0]
        cls, cfg, _ = layers[name]
        if cls == "Conv1D":
            shape = (shape[0] if cfg.get("padding") == "same" else shape[0] - cfg["kernel_size"][0] + 1,
                     cfg["filters"])
            trunk.append((f"Conv1D: {cfg['filters']} filters, kernel {cfg['kernel_size'][0]}", shape))
        elif cls == "MaxPooling1D":
            shape = (shape[0] // cfg["pool_size"][0], shape[1])
            trunk.append((f"max pooling, size {cfg['pool_size'][0]}", shape))
        elif cls == "Flatten":
            shape = (int(np.prod(shape)),)
            trunk.append(("flatten", shape))
        elif cls == "Dense":
            shape = (cfg["units"],)
            trunk.append((f"Dense, {cfg['units']} units", shape))
        elif cls == "MCDropout":
            desc, s = trunk[-1]
            trunk[-1] = (desc + f", MC dropout {cfg['rate']:g}", s)
        elif cls == "Activation":
            desc, s = trunk[-1]
            trunk[-1] = (desc + f"\n{cfg['activation']}", s)
    heads = [c for c in consumers.get(name, []) if layers[c][0] == "Dense" and layers[c][1]["units"] == 1]
    branches = {}
    for mask, (cls, _, _) in layers.items():
        if cls != "BoolMask":
            continue
        widths, cur = [], mask
        while True:
            nxt = [c for c in consumers.get(cur, []) if layers[c][0] in ("Dense", "MCDropout")]
            if not nxt:
                break
            cur = nxt[0]
            if layers[cur][0] == "Dense":
                widths.append(layers[cur][1]["units"])
        branches[mask.removesuffix("_Mask")] = widths
    return {"trunk": trunk, "heads": len(heads), "branches": branches, "n_layers": len(layers)}


@figure_function
def network_schematic(model_config: dict, name: str = "astroNN_0617_run001", windows=None):
    """The censored network drawn from its own layer configuration (``model_config``, e.g.
    :func:`astronn_paper.model.train.read_layer_config`): the convolutional trunk with each
    layer's output shape, the labels read from it, and every element branch (its ASPCAP-window
    mask, in pixels, and its Dense layers), each ending in one output unit that also sees Teff,
    log g and [Fe/H]."""
    from matplotlib.patches import FancyBboxPatch

    lay = network_layout(model_config)
    windows = apogee.aspcap_windows() if windows is None else windows
    branches = lay["branches"]
    n_rows = max(len(branches), 2 * len(lay["trunk"]))
    fig, ax = plt.subplots(figsize=(9.2, 0.34 * n_rows + 1.6))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-1.6, n_rows + 0.2)

    def box(x, y, w, h, text, color, size=9.5):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="0.35", lw=0.8))

    # the trunk, top to bottom on the left
    step = n_rows / len(lay["trunk"])
    ys = []
    for k, (desc, shape) in enumerate(lay["trunk"]):
        y = n_rows - (k + 1) * step + 0.15
        box(0.05, y, 3.9, step - 0.45, f"{desc}\noutput {' × '.join(str(s) for s in shape)}",
            "#dbe9f6" if k else "#f2f2f2", size=9)
        ys.append(y)
        if k:
            arrow(2.0, ys[k - 1], 2.0, y + step - 0.45)
    box(0.05, -1.45, 3.9, 0.9, r"$T_\mathrm{eff}$, $\log g$, [Fe/H] from the trunk" + "\n"
        f"({lay['heads']} Dense units: mean and variance)", "#fde3c8", size=9)
    arrow(2.0, ys[-1], 2.0, -0.55)
    # the element branches on the right
    ax.text(4.4, n_rows - 0.1, "each element's branch: its ASPCAP-window pixels → Dense → [X/H]",
            fontsize=9.5, va="bottom")
    for k, (el, widths) in enumerate(branches.items()):
        y = n_rows - 1 - k * (n_rows - 0.6) / max(len(branches), 1)
        n_pix = int(np.sum(windows[el])) if el in windows else None
        label = apogee.TARGET_LATEX.get(el, el).strip("[]").removesuffix("/H")
        box(4.4, y, 1.05, 0.7, label, "#e6f2e6", size=9.5)
        box(5.6, y, 1.5, 0.7, f"mask: {n_pix:,} px" if n_pix is not None else "mask", "#f2f2f2", size=9)
        box(7.25, y, 1.6, 0.7, "Dense " + " → ".join(str(w) for w in widths), "#dbe9f6", size=9)
        box(9.0, y, 0.95, 0.7, f"[{label}/H]", "#fde3c8", size=9)
    ax.text(4.4, -1.0, "each element's output unit also sees the three trunk labels\n"
            "(gradient stopped) and two auxiliary trunk outputs;\n"
            "in a branch, MC dropout 0.3 after each Dense layer; "
            f"{lay['n_layers']} Keras layers", fontsize=9, va="center")
    ax.set_title(f"{name}: the censored Bayesian CNN, from its layer configuration", fontsize=11)
    fig.tight_layout()
    return fig
