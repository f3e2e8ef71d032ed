"""Write the top-level notebooks from tools/notebooks/<Name>.py.

    python tools/notebooks/build.py [--keep-outputs] [Name ...]

Without ``--keep-outputs`` the outputs are cleared; with it, code cells whose source is
unchanged keep their outputs (changed and new cells have none until the notebook is re-run).
"""
import argparse
from pathlib import Path

from astronn_paper.pipeline.notebooks import build_notebook

here = Path(__file__).resolve().parent
root = here.parents[1]
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--keep-outputs", action="store_true",
                    help="keep the outputs of code cells whose source is unchanged")
parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
args = parser.parse_args()
sources = {p.stem for p in here.glob("*.py") if p.name != "build.py"}
unknown = sorted(set(args.names) - sources)
if unknown:
    parser.error(f"no notebook source for {unknown}; known: {sorted(sources)}")
for name in args.names or sorted(sources):
    out = build_notebook(here / f"{name}.py", root / f"{name}.ipynb", keep_outputs=args.keep_outputs)
    print("wrote", out.relative_to(root))
