"""Where a profile's whole ``run`` spends its time: the nine notebooks and the trainings.

    python benchmarks/bench_run.py [--profile default] [--gpu-step-ms 5 10]

From a clone, the ``default`` run uses the model folders shipped with the repository and trains
nothing: its time is the notebooks' own work. With ``run --retrain`` (or for another profile) it
is the notebooks' work plus every network they train. Both are recorded by the run itself, so
this reads them instead of training everything again:

* each stage's wall time from the last ``python -m astronn_paper run``
  (``<data>/<profile>/stages/<Notebook>.json``), with its networks already trained;
* each network's ``training_wall_time_s`` from the ``provenance.json`` of the model folders the
  run uses (the shipped folders and ``<data>/<profile>/models/*``; folders of side studies,
  whose provenance names a ``study``, are left out).

It prints the sum (the whole run from scratch, up to the compile of the datasets, which the
Datasets stage's time already holds when it compiled them), the share of training, and the same
trainings on a GPU. That last number cannot be measured here (no GPU): it is an estimate from the
number of optimiser steps (spectra x epochs / batch size) times a per-step time
(``--gpu-step-ms``, default 5-10 ms), stated as such. The default comes from the paper's own GPU
rate: all of DR14 (~250,000 spectra x 100 MC passes) in about ten minutes on one 2018 GPU is
~42,000 forward passes of one spectrum per second; a training step of a 64-spectrum batch costs
about three forward passes per spectrum (forward, and a backward pass of twice the work), so
~4.6 ms of the same arithmetic, and small 1-D convolutions stay bound by kernel launches and the
input pipeline rather than by a newer GPU's arithmetic. Training times recorded while the machine was shared are upper limits of the quiet-core
times; the printout says when each network was trained.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from astronn_paper import config  # noqa: E402
from astronn_paper.model import train  # noqa: E402
from astronn_paper.pipeline import stages  # noqa: E402


def stage_times(profile) -> list[tuple[str, float | None, str]]:
    """(stage, seconds of its last run or None, finished) in the run's order."""
    out = []
    for stage in stages.STAGES:
        rec = stages.read_record(stage, profile)
        ok = rec.get("status") == "ok"
        out.append((stage.name, rec.get("seconds") if ok else None, rec.get("finished", "")))
    return out


def shipped_folders() -> list[Path]:
    """The model folders shipped at the repository's top level (each with a provenance)."""
    return sorted(f.parent for f in config.repo_root().glob("*/provenance.json"))


def trainings(profile) -> list[dict]:
    """One row per network the run trains: folder, spectra, epochs, batch, seconds, created."""
    p = config.get_profile(profile)
    folders = shipped_folders() if p.name == "default" else []
    models = config.models_dir(p)
    names = {f.name for f in folders}
    folders += sorted(f for f in models.iterdir() if f.is_dir() and f.name not in names) \
        if models.is_dir() else []
    rows = []
    for folder in folders:
        prov = train.read_provenance(folder)            # {} when the folder has none
        if prov.get("profile") != p.name or prov.get("study"):
            continue
        net = prov.get("network", {})
        rows.append({"folder": folder.name, "n_train": int(prov.get("n_train") or 0),
                     "epochs": int(net.get("epochs") or p.epochs),
                     "batch": int(net.get("batch_size") or p.batch_size),
                     "seconds": float(prov.get("training_wall_time_s") or math.nan),
                     "attempts": len(prov.get("training_attempts") or [None]),
                     "created": str(prov.get("created", ""))[:16]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--gpu-step-ms", type=float, nargs=2, default=(5.0, 10.0), metavar=("LOW", "HIGH"),
                    help="per-optimiser-step time assumed on a GPU (default 5 10)")
    args = ap.parse_args(argv)
    p = config.get_profile(args.profile)

    st = stage_times(p)
    missing = [name for name, s, _ in st if s is None]
    print(f"profile '{p.name}': the last run's stages (networks already trained)")
    for name, s, when in st:
        print(f"  {name:<34} {'not run' if s is None else f'{s:8.1f} s'}  {when}")
    t_stages = sum(s for _, s, _ in st if s is not None)
    print(f"  {'notebooks':<34} {t_stages:8.1f} s = {t_stages / 60:.1f} min (one after another)")
    last = stages.read_run_record(p)
    t_wall = t_stages
    if last and not last.get("reused") and not missing:
        t_wall = float(last["wall_s"])
        print(f"  {'the run, wall time':<34} {t_wall:8.1f} s = {t_wall / 60:.1f} min "
              f"(up to {last['jobs']} notebooks at a time, finished {last['finished']})")

    tr = trainings(p)
    print(f"\nnetworks the run trains ({len(tr)}): spectra x epochs, wall time when trained")
    for r in tr:
        rate = r["n_train"] * r["epochs"] / r["seconds"] if r["seconds"] else math.nan
        print(f"  {r['folder']:<34} {r['n_train']:>5} x {r['epochs']:<3} {r['seconds']:8.1f} s "
              f"({rate:5.0f} spectra-epochs/s, {r['attempts']} attempt(s), trained {r['created']})")
    t_train = sum(r["seconds"] for r in tr if math.isfinite(r["seconds"]))
    total = t_stages + t_train
    print(f"  {'trainings':<34} {t_train:8.1f} s = {t_train / 60:.1f} min")

    shipped = shipped_folders() if p.name == "default" else []
    if shipped:
        print(f"\nfrom a clone: the run uses the {len(shipped)} shipped model folders and trains "
              f"nothing: {t_wall / 60:.1f} min of notebooks (plus the install)")
    print(f"\nwhole run with every network trained here (run --retrain; sum of the measured "
          f"parts): {total / 60:.1f} min; training {100 * t_train / total:.0f} % of it, "
          f"{t_train / max(t_stages, 1e-9):.1f}x the notebooks' own work")
    if missing:
        print(f"  (incomplete: no successful run recorded for {', '.join(missing)})")

    steps = sum(math.ceil(r["n_train"] / r["batch"]) * r["epochs"] for r in tr)
    lo, hi = (steps * ms / 1e3 for ms in args.gpu_step_ms)
    print(f"\nGPU estimate (not measured: no GPU here): {steps:,} optimiser steps x "
          f"{args.gpu_step_ms[0]:g}-{args.gpu_step_ms[1]:g} ms = {lo / 60:.0f}-{hi / 60:.0f} min of "
          f"training instead of {t_train / 60:.0f}; the whole run then "
          f"{(t_stages + lo) / 60:.0f}-{(t_stages + hi) / 60:.0f} min, the notebooks' CPU work "
          f"(MC-dropout inference, compile, figures) unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
