"""The analysis commands of ``python -m astronn_paper``: ``catalog``, ``cannon`` and ``response``
(argument parsing and printing only; the work is done by :mod:`.catalog`, :mod:`.cannon` and
:mod:`.response`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from astronn_paper import config
from astronn_paper.analysis import cannon, catalog, response


def register(subparsers) -> None:
    register_catalog(subparsers)
    register_cannon(subparsers)
    register_response(subparsers)


def register_catalog(subparsers) -> None:
    from astronn_paper.survey.arguments import source_arguments

    p = subparsers.add_parser(
        "catalog", help="predict the whole-survey catalog (FITS)", parents=[source_arguments()],
        description="Apply the censored network (fast MC dropout) to every allStar row with a "
                    "spectrum, or the profile's share of them, and write the catalog as a FITS "
                    "table laid out like the original astroNN DR14 catalog (resumable: finished "
                    "chunks are kept; a rerun with the same inputs reuses the file).")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size: how many allStar rows and MC passes "
                        "(default: $ASTRONN_PAPER_PROFILE, else default)")
    p.add_argument("--model", default=None, help="model folder (default: the profile's censored network)")
    p.add_argument("--out", default=None, help=f"output FITS (default <data>/<profile>/{catalog.CATALOG_NAME})")
    p.add_argument("--chunk-size", type=int, default=catalog.CHUNK_SIZE,
                   help=f"stars per inference chunk, the unit of resumption (default {catalog.CHUNK_SIZE})")
    p.add_argument("--force", action="store_true",
                   help="predict again even if the catalog or finished chunks are up to date")
    p.set_defaults(func=_catalog)


def _catalog(args) -> int:
    from astronn_paper.survey.arguments import source_spec

    spec = source_spec(args)
    source = None if spec is None else catalog.open_source(spec, args.profile)
    rep = catalog.build_catalog(args.profile, source=source, model_folder=args.model, out_path=args.out,
                        chunk_size=args.chunk_size, force=args.force)
    print(json.dumps({**rep.__dict__, "path": config.shown_path(rep.path), "spectra_per_s": rep.spectra_per_s},
                     indent=1, default=str))
    return 0


def register_cannon(subparsers) -> None:
    p = subparsers.add_parser("cannon", help="train The Cannon on the training set and apply "
                              "it to the high-SNR test set (external_data/)")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size: the training and test sets used "
                        "(default: $ASTRONN_PAPER_PROFILE, else default)")
    p.add_argument("--force", action="store_true", help="refit even if the cached result is up to date")
    p.set_defaults(func=_cannon)


def _cannon(args) -> int:
    res = cannon.run_comparison(args.profile, force=args.force)
    r = res["result"]
    print(f"{config.shown_path(res['path'])}: {len(r.labels)} stars, {r.good.sum()} good, "
          f"train {res['fit'].train_time_s:.1f} s, infer {r.spectra_per_s:.1f} spectra/s")
    return 0


def register_response(subparsers) -> None:
    from astronn_paper.model.predict import mc_passes

    p = subparsers.add_parser(
        "response", help="element response test of a model on the synthetic survey",
        description="Change one true label at a time (Teff +50 K, log g +0.1, each [X/H] +0.1, "
                    "and all [X/H] together), re-render and observe the star with the same "
                    "noise, predict, and write R[i, j] = median dpred_i / dtrue_j with "
                    "bootstrap errors (CSV: one row per snr, output label, changed label).")
    p.add_argument("--model", default=None, help="astroNN model folder (default: the shipped astroNN_0617_run001)")
    p.add_argument("--stars", type=int, default=None, help="in-box giants (default: 300; ci profile 40)")
    p.add_argument("--snr", type=float, nargs="+", default=list(response.DEFAULT_SNRS), help="combined SNRs (default 200 50)")
    p.add_argument("--seed", type=int, default=None, help="seed of the star choice, MC masks and bootstrap")
    p.add_argument("--mc", type=mc_passes, default=response.MC_PASSES,
                   help=f"MC-dropout passes, >= {config.MIN_MC_PASSES} (default {response.MC_PASSES})")
    p.add_argument("--boot", type=int, default=response.N_BOOT, help=f"bootstrap resamples (default {response.N_BOOT})")
    p.add_argument("--vmicro", choices=response.VMICRO_MODES, default="relation",
                   help="micro-turbulence of a changed star: follows the survey's vmicro(log g) relation "
                        "(default) or stays fixed")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="profile of the survey seed and the output folder "
                        "(default: $ASTRONN_PAPER_PROFILE, else default)")
    p.add_argument("--out", default=None, help="output CSV (default <data>/<profile>/results/response_<model>.csv)")
    p.set_defaults(func=_response)


def _response(args) -> int:
    if args.stars is not None and args.stars < 1:
        print(f"error: --stars must be at least 1, got {args.stars}", file=sys.stderr)
        return 2
    if any(not np.isfinite(s) or s <= 0 for s in args.snr):
        print(f"error: --snr values must be positive, got {args.snr}", file=sys.stderr)
        return 2
    if args.out is not None and not str(args.out).endswith(".csv"):
        print(f"error: --out must be a .csv file, got {args.out}", file=sys.stderr)
        return 2
    folder = args.model or config.shipped_model_dir()
    out = Path(args.out) if args.out else response.default_path(folder, args.profile)
    # a bad model folder or too many stars: config.UserError, one line from cli.main
    table = response.measure(folder, n_stars=args.stars, snrs=args.snr, seed=args.seed, mc=args.mc,
                    profile=args.profile, out=out, n_boot=args.boot, vmicro=args.vmicro)
    meta = table.attrs
    for snr in args.snr:
        sr = response.self_response(table, snr)
        print(f"SNR {snr:g}: self-response R[i,i] (± bootstrap error), response to all [X/H] +0.1")
        for lab, row in sr.iterrows():
            print(f"  {lab:>5}  {row['self']:+.3f} ± {row['self_err']:.3f}   all [X/H]: "
                  f"{row['population']:+.3f} ± {row['population_err']:.3f}"
                  + (f"   both columns of the element: {row['element']:+.3f} ± {row['element_err']:.3f}"
                     if np.isfinite(row.get("element", np.nan)) else ""))
    print(f"wrote {out} ({meta['n_stars']} stars, SNR {', '.join(f'{s:g}' for s in args.snr)}, "
          f"{meta['mc_passes']} MC passes); wall {meta['wall_s']:.0f} s, CPU {meta['cpu_s']:.0f} s")
    return 0
