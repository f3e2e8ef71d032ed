"""``python -m astronn_paper synth``: export the synthetic survey as a DR14 or DR17 SAS mirror,
by default the stars of a profile's datasets (the paper's cuts, here) and the cluster members."""
from __future__ import annotations

import argparse
from pathlib import Path

from astronn_paper import apogee, config
from astronn_paper.survey.release import DEFAULT_RELEASE

#: Bytes of one apStar row: flux, error, sky, sky error, telluric and telluric error
#: (float32) and PIXMASK (int16) on the 8575-pixel grid; ``--lite`` writes the four sky and
#: telluric HDUs empty.
APSTAR_ROW_BYTES = {False: (6 * 4 + 2) * apogee.N_PIX, True: (2 * 4 + 2) * apogee.N_PIX}
#: Bytes of an apStar file besides its rows: headers, the RV table, FITS padding (measured:
#: 35-45 kB for DR14 and DR17, full and lite).
APSTAR_FILE_BYTES = 40_000
#: Bytes of one aspcapStar file (measured: 124 kB).
ASPCAPSTAR_BYTES = 124_000


def register(subparsers) -> None:
    from astronn_paper.survey.arguments import release_arguments
    from astronn_paper.survey.release import DEFAULT_RELEASE

    release = release_arguments(
        f"SAS layout, apStar rows and header keywords of this data release (default "
        f"{DEFAULT_RELEASE}); read the mirror back with 'compile --source mirror --release' the same")
    p = subparsers.add_parser(
        "synth", parents=[release], help="export the synthetic DR14 survey as a SAS mirror (allStar, apStar, aspcapStar)",
        description=(
            "Write the synthetic survey with the real DR14 folder layout, HDU layout and "
            ".sha1sum files, so that astroNN's allstar / visit_spectra / combined_spectra "
            "and the mirror source work on it offline. Without --stars/--ids, exports the "
            "stars the profile needs (its training and high-SNR test selections plus the "
            "cluster members)."),
    )
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="whose stars to export (default: $ASTRONN_PAPER_PROFILE, else default)")
    p.add_argument("--mirror", default=None,
                   help="mirror root (what SDSS_LOCAL_SAS_MIRROR will point to); default: the profile's data/<profile>/sas_mirror")
    p.add_argument("--seed", type=int, default=None, help="survey seed (default: the profile's survey_seed)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--stars", type=int, default=None,
                   help="export only N stars: a seeded random subset of the profile's rows")
    g.add_argument("--ids", type=argparse.FileType("r"), default=None,
                   help="file with one allStar index or APOGEE_ID per line")
    p.add_argument("--no-aspcap", action="store_true", help="skip the aspcapStar files")
    p.add_argument("--lite", action="store_true",
                   help="write the apStar sky/telluric HDUs (4-7) empty: same layout numbering, ~55%% less disk")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def export_size(source, rows, release: str = DEFAULT_RELEASE, lite: bool = False,
                aspcap: bool = True) -> tuple[int, int]:
    """``(spectra, tables)``: about how many bytes an export of ``rows`` writes - its apStar
    (and aspcapStar) files, and the allStar and truth tables (written once per mirror)."""
    import numpy as np

    nvisits = np.asarray(source.allstar()["NVISITS"][np.unique(np.asarray(rows, np.int64))], np.int64)
    single = 1 if release == DEFAULT_RELEASE else 2            # DR17 keeps a single visit in two rows
    n_rows = np.where(nvisits > 1, nvisits + 2, single)
    spectra = int(n_rows.sum()) * APSTAR_ROW_BYTES[bool(lite)] + len(n_rows) * APSTAR_FILE_BYTES
    if aspcap:
        spectra += len(n_rows) * ASPCAPSTAR_BYTES
    tables = source.allstar().nbytes + source.truth().nbytes
    return spectra, int(tables)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def main(args) -> int:
    import numpy as np

    from astronn_paper.survey import release as release_
    from astronn_paper.synth.source import SyntheticSource
    from astronn_paper.synth.export import default_rows, export_mirror, rows_from_ids

    prof = args.profile                     # a config.Profile, resolved by cli.main
    args.release = args.release or release_.DEFAULT_RELEASE
    seed = prof.survey_seed if args.seed is None else args.seed
    root = args.mirror or config.mirror_dir(prof)
    src = SyntheticSource(seed=seed)
    if args.ids is not None:
        rows = rows_from_ids(src, args.ids)
    else:
        from astronn_paper.dataset.selection import select, standard_selections

        allstar = src.allstar()
        rows = default_rows(src, [select(allstar, sel) for sel in standard_selections(prof).values()])
        if args.stars is not None and args.stars < len(rows):
            rng = np.random.default_rng(config.seed_for("synth:export", prof))
            rows = np.sort(rng.choice(rows, size=args.stars, replace=False))
    spectra, tables = export_size(src, rows, release=args.release, lite=args.lite,
                                  aspcap=not args.no_aspcap)
    tables_there = (Path(root) / release_.layout(args.release).allstar_relpath).is_file()
    print(f"exporting {len(rows)} stars of seed {seed} as {args.release.upper()} to {root} (about "
          f"{_size(spectra)} of spectra, " + ("the tables already there)" if tables_there else
                                             f"plus {_size(tables)} of tables: allStar and truth)"))
    summary = export_mirror(root, src, rows, aspcap=not args.no_aspcap, progress=not args.quiet,
                            lite=args.lite, release=args.release)
    per_1000 = summary["spectra_bytes"] / max(summary["n_rows_exported"], 1) * 1000 / 1e6
    print(f"exported {summary['n_rows_exported']} stars ({summary['n_written']} newly written) "
          f"of seed {seed} to {summary['root']}; spectra {summary['spectra_bytes'] / 1e6:.1f} MB "
          f"({per_1000:.0f} MB per 1000 stars)")
    print(f"use it with:  export SDSS_LOCAL_SAS_MIRROR={summary['root']}"
          + ("" if args.release == release_.DEFAULT_RELEASE else f"  (and --release {args.release})"))
    return 0
