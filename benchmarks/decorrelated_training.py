"""The decorrelated-training study, from scratch, with one command.

    .venv/bin/python benchmarks/decorrelated_training.py [--profile default] [--stage all]

Stages (each reuses what is already built, so a rerun only redoes what changed):

* ``data``: compile the decorrelated training set (the default profile's training selection
  on :class:`astronn_paper.analysis.decorrelated.DecorrelatedSource`);
* ``train``: train the censored network on it with the paper's settings into
  ``data/<profile>/models/decorrelated_censored`` (~20-30 min on 2 CPU cores, default);
* ``analyse``: self-responses, M13 Al spread and Mg-Al correlation and the field precision
  on the standard high-SNR test set, for the standard shipped network and the decorrelated
  one; written to ``data/<profile>/results/DecorrelatedTraining.json`` and printed;
* ``all`` (default): the three in order.

Timings of each stage are printed and stored in the results file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--stage", choices=("data", "train", "analyse", "all"), default="all")
    ap.add_argument("--force", action="store_true", help="rebuild the stage(s) even if cached")
    ap.add_argument("--response-stars", type=int, default=None,
                    help="stars of the response test (default: the study's)")
    args = ap.parse_args(argv)

    from astronn_paper import config
    from astronn_paper.analysis import decorrelated as dec

    config.quiet_tensorflow()
    timings = {}
    if args.stage in ("data", "all"):
        t0 = time.time()
        path = dec.build_training_set(args.profile, force=args.force)
        timings["data_s"] = round(time.time() - t0, 1)
        print(f"decorrelated training set: {path} ({timings['data_s']} s)", flush=True)
    if args.stage in ("train", "all"):
        t0 = time.time()
        folder = dec.train(args.profile, force=args.force)
        timings["train_s"] = round(time.time() - t0, 1)
        print(f"decorrelated censored network: {folder} ({timings['train_s']} s)", flush=True)
    if args.stage in ("analyse", "all"):
        t0 = time.time()
        kw = {} if args.response_stars is None else {"response_stars": args.response_stars}
        out = dec.run_study(args.profile, timings=timings, **kw)
        print(f"analysis: {round(time.time() - t0, 1)} s", flush=True)
        print(dec.format_report(out))
        print(json.dumps(out.get("timings", {}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
