"""The reproduction check (``python -m astronn_paper test --reproduce``) on a tiny notebook.

No TensorFlow, no default-profile run: a notebook of a few cells is executed once with nbclient
(its outputs are the "committed" ones), edited the way a re-run on another machine might differ,
and handed to :func:`astronn_paper.pipeline.reproduce.check` - the function the command runs -
in a subprocess: nbval in comparing mode, the sanitize file, the last-digit tolerance.
"""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from astronn_paper import config
from astronn_paper.pipeline import nbval_tolerance as tol
from astronn_paper.pipeline import reproduce

# --------------------------------------------------------------------------- the tolerance


@pytest.mark.parametrize("ref, test, ok", [
    ("teff 21.8462 K", "teff 21.8462 K", True),
    ("teff 21.8462 K", "teff 21.8463 K", True),
    ("teff 21.8462 K", "teff 21.8461 K", True),
    ("teff 21.8462 K", "teff 21.8464 K", False),
    ("teff 21.8462 K", "teff 21.8460 K", False),
    ("teff 21.8469 K", "teff 21.8470 K", True),        # one unit, carried
    ("ratio 0.10", "ratio 0.11", True),
    ("ratio 0.10", "ratio 0.12", False),
    ("3000 stars", "3001 stars", True),
    ("1234", "1235", True),
    ("1234", "1236", False),
    ("9.99", "10.00", False),                          # the number of digits must match
    ("0.10", "0.100", True),                           # %g drops trailing zeros
    ("-0.0009791", "-0.000979", True),                 # -0.0009790: one unit
    ("-0.0009791", "-0.000978", False),                # eleven units
    ("bias -0.0009791  0.07", "bias  -0.000979  0.07", True),   # the column keeps its width
    ("bias -0.0009791  0.07", "bias   -0.000979  0.07", False),  # two spaces for one digit
    ("-0.000", "0.000", True),                         # a zero may carry either sign
    ("-0.000", "0.001", True),
    ("-0.001", "0.001", False),                        # the sign must match
    ("+0.012", "-0.012", False),
    ("  -0.000  0.5", "   0.000  0.5", True),          # a right-aligned column's padding
    ("  -0.000", "    0.000", False),
    ("1.23e-05", "1.24e-05", True),
    ("1.23e-05", "1.23e-06", False),
    ("a 1.0 b 2.0", "a 1.1 b 2.1", True),              # every number may flip
    ("a 1.0 b 2.0", "a 1.1 c 2.1", False),             # but the text must match
    ("scatter 0.0422 dex", "spread 0.0422 dex", False),
    ("M67: 16 members", "M68: 16 members", False),     # a name, not a number
    ("fp32", "fp33", False),
    ("version 2.15.0", "version 2.15.1", False),
    ("0.5 1.0", "0.5", False),
    ("<td>0.0069</td>", "<td>0.0070</td>", True),
    ("x-1", "x-2", True),
    ("35,723 stars", "35,724 stars", True),            # thousands separators
    ("35,799 stars", "35,800 stars", True),
    ("35,723 stars", "36,724 stars", False),           # not two one-unit flips
    ("1,234", "1234", False),
    ("teff 0, logg 273, C 202", "teff 1, logg 274, C 201", True),
])
def test_within_last_digit(ref, test, ok):
    assert tol.within_last_digit(ref, test) is ok


def test_nbval_internals_are_what_the_plugin_patches():
    """Fails when an nbval upgrade changes the method the tolerance wraps (or stops dropping
    images from the comparison): the tolerance must not silently switch off."""
    from nbval import plugin

    assert tol.nbval_problems() == []
    tol.install()
    tol.install()   # idempotent
    assert plugin.IPyNbCell.compare_outputs is tol.compare_outputs
    assert tol.compare_outputs.__wrapped__.__module__ == "nbval.plugin"


# --------------------------------------------------------------------------- the sanitize file


def _sanitizer():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((config.repo_root() / reproduce.SANITIZE_FILE).read_text())

    def sanitize(s: str) -> str:
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s
    return sanitize


@pytest.mark.parametrize("line, masked", [
    # timings and rates as the committed notebooks print them
    ("censored: astroNN_0617_run001: 7200 training + 800 validation spectra, 60 epochs, 571 s",
     "censored: astroNN_0617_run001: 7200 training + 800 validation spectra, 60 epochs, <TIME> s"),
    ("flagged in the high-SNR test set: 2.00 % of 3000; fit 28 s, scoring 0.65 ms per spectrum",
     "flagged in the high-SNR test set: 2.00 % of 3000; fit <TIME> s, scoring <TIME> ms per spectrum"),
    ("decorrelated  data/default/models/decorrelated_censored: n_train 7191, epochs 60, training 1473.6 s",
     "decorrelated  data/default/models/decorrelated_censored: n_train 7191, epochs 60, training <TIME> s"),
    ("20000 rows, 20000 predicted, skipped: none; wall time 390 s (read from the cache)",
     "20000 rows, 20000 predicted, skipped: none; wall time <TIME> s (read from the cache)"),
    ("external_data/cannon_highsnr_test.fits: trained on 6495 spectra in 71 s; applied to 600 stars",
     "external_data/cannon_highsnr_test.fits: trained on 6495 spectra in <TIME> s; applied to 600 stars"),
    ("100 spectra: network 240.5 spectra/s, The Cannon 26.0 spectra/s (network 9.2x faster)",
     "100 spectra: network <RATE> spectra/s, The Cannon <RATE> spectra/s (network <RATIO>x faster)"),
    ("astroNN (censored)     240.5205           571.2000   \n"
     "The Cannon              26.0079            71.0088   ",
     "astroNN (censored) <RATE> <TIME>   \nThe Cannon <RATE> <TIME>   "),
    ("      <th>The Cannon</th>\n      <td>26.0079</td>\n      <td>71.0088</td>\n      <td>0.0473</td>",
     "      <th>The Cannon</th>\n      <td><RATE></td>\n      <td><TIME></td>\n      <td>0.0473</td>"),
    ("the network predicts 2154 spectra/s with 100 MC passes, 6.0× The Cannon's rate, on this machine",
     "the network predicts <RATE> spectra/s with 100 MC passes, <RATIO>× The Cannon's rate, on this machine"),
    # a fresh compile's time line, dates and clock times
    ("  time      : 123.4 s (1,234 stars/s)", "  time      : <TIME> s (<RATE> stars/s)"),
    ("finished 2024-05-01T12:34:56Z", "finished <DATE>"),
    ("at 09:15:02", "at <CLOCK>"),
])
def test_sanitize_masks_times_rates_dates(line, masked):
    assert _sanitizer()(line) == masked


@pytest.mark.parametrize("line", [
    "train: 4000 <= Teff <= 5500 K, SNR > 200, STARFLAG == 0, VSCATTER < 1 km/s, LOCATION_ID > 1",
    "median abundance self-response ... median field scatter: 0.039 -> 0.055 dex (1.41x)",
    "median total σ: Teff 269 K vs 55 K for the rest, log g 0.75 vs 0.19 dex",
    "teff        3000        -1.65           44.71      -13.79          21.85",
    "scales fitted on 800 validation stars; z-score robust std on 3000 test stars",
    "      scale s (validation)  s vs truth (diagnostic)",
    "provenance: MODEL astroNN_0617_run001; MODELFP 2ab2a4a05d4c8452; SEED 2057903758",
    "astroNN (censored)                                   0.0243  ",
    "M13  (48 stars)  [X/Fe]",
    "lowest visit-SNR bin: median SNR 8.5; highest: 161 (SNR ratio 19)",
    "the scatter is 1.5× the paper's, 2.6× The Cannon's scatter",
])
def test_sanitize_keeps_science(line):
    assert _sanitizer()(line) == line


# --------------------------------------------------------------------------- the check itself

TIMING_CELL = 3   # index among code cells (nbval's "Cell N")
WORDS_CELL = 2

CELLS = [
    ("markdown", "# A tiny notebook"),
    ("parameters", "profile = None"),
    ("code", "import os\n"
             "from astronn_paper import config\n"
             "from astronn_paper.model.blas import resolve_precision\n"
             "print('profile', config.get_profile(profile).name, '| precision', resolve_precision(),\n"
             "      '| progress bars', os.environ['ASTRONN_PAPER_PROGRESS'],\n"
             "      '| backend', os.environ['MPLBACKEND'])"),
    ("code", "print('scatter teff 21.8462 K, logg 0.1198 dex over 3000 stars')\n"
             "print('mean [Fe/H] -0.002 ± 0.003')"),
    ("code", "import time\n"
             "t0 = time.perf_counter()\n"
             "time.sleep(0.01)\n"
             "dt = time.perf_counter() - t0\n"
             "print(f'trained on 6495 spectra in {dt:.6f} s; network {100 / dt:.3f} spectra/s '\n"
             "      f'(network {dt * 1e4:.3f}x faster); finished {time.strftime(\"%Y-%m-%dT%H:%M:%S\")}')"),
    ("code", "from IPython.display import Markdown, display\n"
             "display(Markdown('**M67**: network [Fe/H] = -0.002 ± 0.003'))\n"
             "21.8462 * 2"),
]


@contextmanager
def _environ(env: dict):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    """The tiny notebook, executed (as the pipeline would) with its outputs."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    for kind, source in CELLS:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("committed") / "tiny.ipynb"
    with _environ(reproduce.notebook_env()):
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, str(path))
    codes = [c for c in nb.cells if c.cell_type == "code"]
    assert "profile default | precision fp32 | progress bars 0 | backend module://matplotlib_inline" \
        in codes[1].outputs[0].text
    assert "21.8462 K" in codes[WORDS_CELL].outputs[0].text
    assert " s; network " in codes[TIMING_CELL].outputs[0].text
    return path


def _edited(committed: Path, dest: Path, cell: int, edit) -> Path:
    nb = nbformat.read(str(committed), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"][cell]
    before = copy.deepcopy(code.outputs)
    for out in code.outputs:
        if out.output_type == "stream":
            out.text = edit(out.text)
    assert code.outputs != before, "the edit changed nothing"
    nbformat.write(nb, str(dest))
    return dest


def _check(path: Path, sanitize: bool = True) -> subprocess.CompletedProcess:
    """The check, as the command runs it, in a subprocess whose own environment says another
    profile, precision, backend and progress setting (the check must set the pipeline's)."""
    code = ("import sys\n"
            "from astronn_paper.pipeline.reproduce import check, SANITIZE_FILE\n"
            f"sys.exit(check([sys.argv[1]], sanitize=SANITIZE_FILE if {sanitize} else None))")
    env = dict(os.environ, ASTRONN_PAPER_PROFILE="ci", ASTRONN_PAPER_PRECISION="bf16",
               ASTRONN_PAPER_PROGRESS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True,
                          text=True, timeout=900)


def _summary(proc) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


N_CODE_CELLS = sum(kind != "markdown" for kind, _ in CELLS)


@pytest.mark.subprocess
def test_unedited_notebook_reproduces(committed):
    data = committed.read_bytes()
    proc = _check(committed)
    assert proc.returncode == 0, _summary(proc)
    assert f"{N_CODE_CELLS} passed" in proc.stdout, _summary(proc)
    assert "reproduction check on " in proc.stdout            # the CPU is printed first
    assert "--nbval " in proc.stdout and "--nbval-lax" not in proc.stdout
    assert committed.read_bytes() == data, "the check rewrote the notebook"


@pytest.mark.subprocess
def test_a_changed_word_fails(committed, tmp_path):
    nb = _edited(committed, tmp_path / "word.ipynb", WORDS_CELL,
                 lambda t: t.replace("scatter teff", "spread teff"))
    proc = _check(nb)
    assert proc.returncode != 0, _summary(proc)
    assert "Cell outputs differ" in proc.stdout and f"Cell {WORDS_CELL}" in proc.stdout, _summary(proc)
    assert f"{N_CODE_CELLS - 1} passed" in proc.stdout, _summary(proc)


@pytest.mark.subprocess
def test_one_unit_in_the_last_digit_passes(committed, tmp_path):
    nb = _edited(committed, tmp_path / "plus1.ipynb", WORDS_CELL,
                 lambda t: t.replace("21.8462", "21.8463").replace("-0.002 ±", "-0.001 ±"))
    proc = _check(nb)
    assert proc.returncode == 0, _summary(proc)
    assert f"{N_CODE_CELLS} passed" in proc.stdout, _summary(proc)


@pytest.mark.subprocess
def test_two_units_in_the_last_digit_fail(committed, tmp_path):
    nb = _edited(committed, tmp_path / "plus2.ipynb", WORDS_CELL,
                 lambda t: t.replace("21.8462", "21.8464"))
    proc = _check(nb)
    assert proc.returncode != 0, _summary(proc)
    assert "Cell outputs differ" in proc.stdout, _summary(proc)
    assert "21.8464" in proc.stdout, _summary(proc)          # nbval reports the difference


def _other_timing(text: str) -> str:
    text = re.sub(r"in [\d.]+ s", "in 987.654321 s", text)
    text = re.sub(r"[\d.]+ spectra/s", "1.500 spectra/s", text)
    text = re.sub(r"[\d.]+x faster", "0.125x faster", text)
    return re.sub(r"finished \S+", "finished 1999-12-31T23:59:59", text)


@pytest.mark.subprocess
def test_a_masked_timing_passes_though_it_differs(committed, tmp_path):
    nb = _edited(committed, tmp_path / "timing.ipynb", TIMING_CELL, _other_timing)
    proc = _check(nb)
    assert proc.returncode == 0, _summary(proc)
    assert f"{N_CODE_CELLS} passed" in proc.stdout, _summary(proc)


@pytest.mark.subprocess
def test_the_same_timing_fails_without_the_sanitize_file(committed, tmp_path):
    nb = _edited(committed, tmp_path / "timing_unmasked.ipynb", TIMING_CELL, _other_timing)
    proc = _check(nb, sanitize=False)
    assert proc.returncode != 0, _summary(proc)
    assert "Cell outputs differ" in proc.stdout and f"Cell {TIMING_CELL}" in proc.stdout, _summary(proc)


def test_an_unexecuted_notebook_is_refused(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    path = tmp_path / "unrun.ipynb"
    nbformat.write(nb, str(path))
    assert reproduce.check([path]) == 2
    assert "never executed" in capsys.readouterr().out


def test_cpu_model_reads_proc_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                    "model name\t: AMD EPYC 9454 48-Core Processor\nflags\t\t: fpu avx2 avx512f\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 9454 48-Core Processor\n")
    assert reproduce.cpu_model(info) == ("AMD EPYC 9454 48-Core Processor (AuthenticAMD, family 25 "
                                         "model 17, 2 logical cores, avx2 avx512f)")
