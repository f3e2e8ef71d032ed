"""Does the default profile's log g and M13 shortfall close at the paper's training-set size?

The ``default`` profile trains on 8,000 of the ~36k synthetic stars that pass the paper's
training cuts. This script trains the censored network with the same settings (60 epochs, the
profile's seeds) on every one of them, without their visits, then scores it exactly as the
notebooks score the shipped network: on the ``default`` high-SNR test set against the
ASPCAP-like labels and the truth, and on the M13 members (the [Al/Fe] spread recovered). Both
networks' rows are printed side by side and written to ``data/default/results/paper_scale.json``.

    python benchmarks/paper_scale.py [--epochs 60] [--force]   (~45 min on 2 CPU cores)

Needs the ``default`` datasets and network (``python -m astronn_paper run --stages Training``).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from astronn_paper import apogee, config, dataset
from astronn_paper.analysis import clusters, results, scoring
from astronn_paper.model import train
from astronn_paper.dataset.sources import open_source

VARIANT = "paper_scale_BCNNCensored"
SHOWN = ("teff", "logg", "Fe", "Mg", "Si", "Ni", "Al", "Na", "Co")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="default: the profile's (60)")
    ap.add_argument("--force", action="store_true", help="retrain even if the folder matches")
    a = ap.parse_args()
    p = config.get_profile("default")
    t0 = time.time()

    sets = dataset.build_standard_sets(p)
    full = dataclasses.replace(dataset.standard_selections(p)["train"], name="train_all",
                               max_stars=None, visits=False)
    path = config.datasets_dir(p) / "train_all.h5"
    if not path.is_file() or a.force:
        dataset.compile_dataset(open_source(None, p), full, path, profile=p)
    print(f"training set of every passing star: {dataset.info(path)['n']['combined']} stars "
          f"({time.time() - t0:.0f} s)", flush=True)

    folder = config.models_dir(p) / VARIANT
    if a.force or not (folder / "model_weights.h5").is_file():
        t1 = time.time()
        folder = train.train_network("censored", path, folder, p, epochs=a.epochs,
                                     extra_provenance={"study": "benchmarks/paper_scale.py"})
        print(f"trained in {time.time() - t1:.0f} s", flush=True)
    shipped = train.ensure_model("censored", p, sets["train"])

    scored = {"default (8k)": scoring.score("default", shipped, sets["test"], p),
              "paper scale": scoring.score("paper", folder, sets["test"], p)}
    m13 = {name: clusters.globular_summary(clusters.run_benchmark(
               p, clusters=("M13",), model_folders={"censored": f})["M13"])
           for name, f in (("default (8k)", shipped), ("paper scale", folder))}

    print(f"\nscatter on the default high-SNR test set ({len(scored['paper scale'].pred['mean'])} "
          "stars), mad_std against the truth [against the ASPCAP-like labels]:")
    print(f"{'label':>6}  " + "  ".join(f"{k:>22}" for k in scored))
    out = {"n_train": {k: s.n_train for k, s in scored.items()}, "scatter_truth": {},
           "scatter_aspcap": {}, "m13_al_fe_recovered": {}}
    for t in SHOWN:
        row = []
        for k, s in scored.items():
            vt, va = s.table.at[t, "scatter_truth"], s.table.at[t, "scatter_aspcap"]
            out["scatter_truth"].setdefault(k, {})[t] = float(vt)
            out["scatter_aspcap"].setdefault(k, {})[t] = float(va)
            row.append(f"{vt:10.4g} [{va:9.4g}]")
        print(f"{t:>6}  " + "  ".join(f"{r:>22}" for r in row))
    ratio = np.array([scored["paper scale"].table.at[t, "scatter_truth"]
                      / scored["default (8k)"].table.at[t, "scatter_truth"] for t in apogee.TARGETS])
    print(f"median over the 22 labels of (paper scale / default) scatter against the truth: "
          f"{np.median(ratio):.3f}")
    for k, g in m13.items():
        rec = g.get("al_fe_spread_recovered", {}).get("censored")
        out["m13_al_fe_recovered"][k] = rec
        print(f"M13 ({g['n_members']} members), {k}: [Al/Fe] spread "
              f"{g['al_fe_spread']['censored']:.3f} of {g.get('al_fe_spread_injected', float('nan')):.3f} "
              f"injected ({100 * rec:.0f} %)" if rec is not None else f"M13, {k}: no truth")
    out["median_ratio_truth"] = float(np.median(ratio))
    out["wall_time_s"] = round(time.time() - t0, 1)
    print(f"\nwritten {results.write('paper_scale', out, p)} ({out['wall_time_s']:.0f} s)")


if __name__ == "__main__":
    main()
