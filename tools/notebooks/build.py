"""Write every top-level notebook from tools/notebooks/<Name>.py (outputs are cleared).

    python tools/notebooks/build.py [Name ...]
"""
import sys
from pathlib import Path

from astronn_paper.pipeline.notebooks import build_notebook

here = Path(__file__).resolve().parent
root = here.parents[1]
names = sys.argv[1:] or [p.stem for p in sorted(here.glob("*.py")) if p.name != "build.py"]
for name in names:
    out = build_notebook(here / f"{name}.py", root / f"{name}.ipynb")
    print("wrote", out.relative_to(root))
