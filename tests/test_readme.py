"""The README's Python route (between ``.. python-route-start`` and ``.. python-route-end``),
pasted as is into a fresh interpreter with sockets blocked, on an apStar file of a mirror
exported from the synthetic survey, prints the labels ``predict`` gives the same star."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.table import Table

from astronn_paper import apogee, config
from astronn_paper.survey.mirror import MirrorSource
from astronn_paper.synth.source import SyntheticSource
from astronn_paper.synth.export import export_mirror

ROOT = config.repo_root()
#: the star the README's snippet names, and the file name it opens
STAR = "2M00000002+7417074"
FILE = f"apStar-r8-{STAR}.fits"

#: imported at start-up by every interpreter started below (PYTHONPATH): no socket connects
BLOCK_NETWORK = '''
import socket, sys

def _blocked(*args, **kwargs):
    raise OSError("network blocked by the test")

socket.socket.connect = _blocked
socket.create_connection = _blocked
print("sitecustomize: network blocked", file=sys.stderr)
'''


def readme_python_route() -> str:
    """The code of the README's Python route, dedented, as a reader would copy it."""
    text = (ROOT / "README.rst").read_text()
    block = text[text.index(".. python-route-start"):text.index(".. python-route-end")]
    lines = block.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(".. code-block:: python"))
    return textwrap.dedent("\n".join(lines[start + 1:])).strip() + "\n"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The README's star exported (DR14 layout) into a mirror, and a working folder holding its
    apStar file under the name the snippet opens and the shipped network, as the repository
    root does; sitecustomize.py blocks the network in every interpreter started there."""
    src = SyntheticSource(seed=config.get_profile("ci").survey_seed)
    row = int(np.flatnonzero(src.allstar()["APOGEE_ID"] == STAR.encode())[0])
    root = tmp_path_factory.mktemp("sas")
    export_mirror(root, src, [row], progress=False, lite=True)
    path = MirrorSource(root).apstar_path(row)
    work = tmp_path_factory.mktemp("work")
    (work / FILE).symlink_to(path)
    (work / "astroNN_0617_run001").symlink_to(config.shipped_model_dir())
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(BLOCK_NETWORK)
    # a fresh shell: none of the settings an earlier test may have left in this process's
    # environment (TF_DETERMINISTIC_OPS, set by a training test, makes astroNN's dropout refuse
    # to build without a global seed)
    env = {k: v for k, v in os.environ.items()
           if k not in (config.PROFILE_ENV, "ASTRONN_PAPER_PRECISION", "TF_DETERMINISTIC_OPS")}
    env.update(PYTHONPATH=str(site), SDSS_LOCAL_SAS_MIRROR=str(root), **{config.DATA_ENV: str(work / "data")})
    return {"work": work, "env": env, "path": path}


def _run(args, exported, **kw):
    proc = subprocess.run([sys.executable, *args], cwd=exported["work"], env=exported["env"],
                          capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, proc.stderr
    assert "sitecustomize: network blocked" in proc.stderr
    return proc


@pytest.mark.slow
def test_readme_python_route_prints_the_labels_of_predict(exported, tmp_path):
    """Both are Monte-Carlo means over different dropout masks (astroNN's 100 passes, the
    engine's own), so they agree to the printed precision up to that noise: within 4 standard
    errors of the difference, from the model (MC) uncertainty predict reports."""
    snippet = readme_python_route()
    for step in ('fits.open(path)', 'apogee_continuum(', 'load_folder("astroNN_0617_run001")',
                 "net.predict(spec)", "print("):
        assert step in snippet, step
    assert ".test(" not in snippet
    (tmp_path / "route.py").write_text(snippet)
    printed = _run([str(tmp_path / "route.py")], exported).stdout.splitlines()
    got = {}
    for line in printed:                     # astroNN prints its own banner on stdout too
        words = line.split()
        if len(words) == 4 and words[2] == "+-":
            got[words[0]] = (float(words[1]), float(words[3]))
    assert list(got) == list(apogee.TARGETS)

    out = tmp_path / "predict.csv"
    mc = 1000
    err = _run(["-m", "astronn_paper", "predict", FILE, "--mc", str(mc), "--out", str(out)],
               exported).stderr
    assert "network astroNN_0617_run001 for 1 apStar file" in err
    ref = Table.read(out, format="ascii.csv", comment="#")
    assert ref["row"][0] == 1 and ref["nvisits"][0] == 3          # the global-weighted row
    half_unit = 0.0005                                              # printed with 3 decimals
    for name in apogee.TARGETS:
        value, error = got[name]
        sigma = float(ref[f"{name}_err_model"][0]) * np.sqrt(1 / 100 + 1 / mc)
        assert abs(value - ref[name][0]) <= 4 * sigma + half_unit, (name, value, ref[name][0], sigma)
        # the total uncertainty: its model part is itself an MC estimate (~7 % at 100 passes)
        assert error == pytest.approx(float(ref[f"{name}_err"][0]), rel=0.25), name
