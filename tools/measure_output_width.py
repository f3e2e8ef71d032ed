"""Measure how wide nbviewer shows a notebook's images: render the notebook to HTML with nbconvert
(as nbviewer does), open it in headless Chromium at a given viewport width, and print each
image's natural width, displayed width and the shrink factor; ``--screenshot`` also saves a
full-page PNG. The displayed width at a 1000 px viewport is
:data:`astronn_paper.figures.style.DISPLAY_PX`.

    python tools/measure_output_width.py Inference.ipynb [--width 1000] [--screenshot out.png]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = """<script>window.addEventListener('load', () => {
  const r = [];
  document.querySelectorAll('.jp-OutputArea-output img').forEach(
    i => r.push(i.naturalWidth + ':' + Math.round(i.getBoundingClientRect().width)));
  const p = document.createElement('pre'); p.textContent = 'MEASURED ' + r.join(' ');
  document.body.appendChild(p);
});</script>"""


def measure(notebook: Path, width: int = 1000, screenshot: Path | None = None) -> list[tuple[int, int]]:
    """(natural, displayed) width in pixels of each output image of ``notebook``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", tmp,
                        str(notebook)], check=True, capture_output=True)
        html = Path(tmp) / (notebook.stem + ".html")
        text = html.read_text()
        probe = html.with_name("probe.html")
        probe.write_text(text.replace("</body>", SCRIPT + "</body>"))
        base = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1200",
                "--virtual-time-budget=10000"]
        dom = subprocess.run(base + ["--dump-dom", probe.as_uri()], capture_output=True, text=True).stdout
        if screenshot is not None:
            subprocess.run(base[:-2] + [f"--window-size={width},20000", f"--screenshot={screenshot}",
                                        html.as_uri()], capture_output=True)
    found = re.findall(r"MEASURED ([\d: ]*)", dom)
    pairs = [tuple(int(v) for v in p.split(":")) for p in found[-1].split()] if found else []
    return pairs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--screenshot", type=Path)
    args = ap.parse_args(argv)
    for k, (natural, shown) in enumerate(measure(args.notebook, args.width, args.screenshot)):
        print(f"image {k}: {natural} px, shown at {shown} px ({shown / natural:.0%})")


if __name__ == "__main__":
    main()
