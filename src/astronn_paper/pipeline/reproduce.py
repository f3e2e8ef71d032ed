"""``python -m astronn_paper test --reproduce``: do the committed notebooks reproduce?

Re-executes the nine top-level notebooks under nbval in its *comparing* mode (``--nbval``: every
code cell's text outputs compared with the committed ones), in the environment the pipeline
executes them in (:func:`notebook_env`: the ``default`` profile, no progress bars, inline
figures, fp32 products), and fails if any cell's outputs differ (nbval reports each such cell,
with the committed and the new text, and carries on with the notebook's next cell).

* Masked (``tools/nbval_sanitize.cfg``, nbval's ``--nbval-sanitize-with``): wall times, rates
  and dates - nothing else.
* Tolerated (:mod:`astronn_paper.pipeline.nbval_tolerance`, a pytest plugin): one unit in the
  last printed digit of a number, which fp32 BLAS kernels of different CPUs may flip.
* Not compared: images. nbval 0.11 drops ``image/png`` and ``image/jpeg`` from the comparison
  unless ``--nbdime`` is given (``IPyNbFile.__init__``, ``skip_compare``; checked by
  :func:`~.nbval_tolerance.nbval_problems`); the notebooks' figures are PNG, and their
  ``<Figure size ...>`` text/plain lines are compared. (An SVG figure would be compared as text.)

nbval only reads the notebooks; the check also verifies that their bytes are unchanged after the
run. A notebook with an unexecuted code cell is refused: nbval does not compare the outputs of
a cell without an execution count, so such a notebook would pass without being checked.

The notebooks' first cell is papermill's parameters cell, ``profile = None``; nbval runs it as
it is, and the notebook then takes its profile from ``$ASTRONN_PAPER_PROFILE``, set here.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from astronn_paper import config

#: nbval's regex file masking wall times, rates and dates (relative to the repository).
SANITIZE_FILE = Path("tools") / "nbval_sanitize.cfg"
#: The tolerance plugin, loaded with ``-p``.
TOLERANCE_PLUGIN = "astronn_paper.pipeline.nbval_tolerance"
#: The engine's precision while the notebooks run (``fp32``: the same digits on every x86-64
#: CPU, up to BLAS summation order).
PRECISION = "fp32"
#: Per-cell timeout (s): a cell may train networks when their cache is empty.
CELL_TIMEOUT_S = 6 * 3600


def notebook_variables(profile: str = "default") -> dict[str, str]:
    """The environment variables a notebook is executed with, by the pipeline
    (:func:`astronn_paper.pipeline.stages.execute`) and by this check: the profile (for code
    the kernel imports before the parameter), no progress bars, inline figures and
    :data:`PRECISION` products."""
    from astronn_paper.model.blas import PRECISION_ENV
    from astronn_paper.progress import PROGRESS_ENV

    return {config.PROFILE_ENV: profile, PROGRESS_ENV: "0",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline", PRECISION_ENV: PRECISION}


def notebook_env(base: dict | None = None) -> dict:
    """``base`` (default: ``os.environ``) with :func:`notebook_variables` of the ``default``
    profile."""
    return {**(os.environ if base is None else base), **notebook_variables("default")}


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """This machine's CPU in one line: model name, vendor/family/model, logical cores, and its
    vector and matrix extensions (which decide the BLAS kernels)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine() or "unknown CPU"
    first: dict[str, str] = {}
    cores = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            continue
        if key == "processor":
            cores += 1
        first.setdefault(key, value.strip())
    flags = set(first.get("flags", "").split())
    details = [first.get("vendor_id", ""),
               f"family {first.get('cpu family', '?')} model {first.get('model', '?')}",
               f"{cores} logical cores",
               " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)]
    return f"{first.get('model name', 'unknown CPU')} ({', '.join(d for d in details if d)})"


def unexecuted_cells(path: Path) -> list[int]:
    """Indices (among code cells, as nbval numbers them) of code cells that were never run."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    codes = [c for c in nb.cells if c.cell_type == "code"]
    return [i for i, c in enumerate(codes) if c.execution_count is None]


def pytest_command(notebooks: list[Path], sanitize: Path | None, extra: list[str] | None = None,
                   cell_timeout: float = CELL_TIMEOUT_S) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", *map(str, notebooks),
           "--nbval",                        # comparing mode (not --nbval-lax)
           "--nbval-current-env",            # the kernel runs this interpreter
           f"--nbval-cell-timeout={cell_timeout:g}",
           "-p", TOLERANCE_PLUGIN, "-p", "no:cacheprovider",
           # nbval colours its report unless told "no" ("auto" is not honoured): plain in logs
           "--color=" + ("yes" if sys.stdout.isatty() else "no")]
    if sanitize is not None:
        cmd.append(f"--nbval-sanitize-with={sanitize}")
    return cmd + list(extra or [])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(notebooks: list[os.PathLike], extra: list[str] | None = None,
          sanitize: os.PathLike | None = SANITIZE_FILE, stream=None,
          after: dict[str, tuple[str, ...]] | None = None, jobs: int = 1) -> int:
    """Re-run ``notebooks`` under nbval, comparing their outputs with the committed ones;
    returns 0 when every output reproduced, else pytest's exit code. ``sanitize``: nbval's regex
    file, relative to the repository (None: nothing masked). Each notebook is one nbval session;
    up to ``jobs`` run at once, each after the notebooks named in ``after[its name]`` (the
    pipeline's stage order). ``python -m astronn_paper test --reproduce`` calls it with the nine
    notebooks of :data:`~.stages.STAGES`."""
    from astronn_paper.pipeline import schedule

    stream = stream or sys.stdout
    root = config.repo_root()
    paths = [Path(p).resolve() for p in notebooks]
    sanitize_path = root / sanitize if sanitize is not None else None
    print(f"reproduction check on {cpu_model()}", file=stream, flush=True)
    if not paths:
        print("no notebooks to check", file=stream)
        return 1
    unrun = {p: cells for p in paths if (cells := unexecuted_cells(p))}
    if unrun:
        for p, cells in unrun.items():
            print(f"{p.name}: code cell(s) {cells} have no committed outputs (never executed): "
                  "nbval would not compare them; execute the notebook first", file=stream)
        return 2
    before = {p: _digest(p) for p in paths}
    print(f"{len(paths)} notebook(s), up to {jobs} at a time; profile default, {PRECISION}; masked: "
          f"{config.shown_path(sanitize_path) if sanitize_path else 'nothing'}; "
          "tolerated: one unit in a number's last digit", file=stream)
    print("each: " + " ".join(pytest_command([Path("<notebook>")], sanitize_path, extra)[1:]),
          file=stream, flush=True)
    by_name = {p.stem: p for p in paths}
    logs = {name: Path(tempfile.mkstemp(prefix=f"nbval-{name}-", suffix=".log")[1]) for name in by_name}
    codes: dict[str, int] = {}

    def start(name):
        with open(logs[name], "wb") as fh:
            return subprocess.Popen(pytest_command([by_name[name]], sanitize_path, extra), cwd=str(root),
                                    env=notebook_env(), stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)

    def finished(name, proc, seconds):
        codes[name] = proc.returncode
        lines = [ln for ln in logs[name].read_text(errors="replace").splitlines() if ln.strip()]
        print(f"{by_name[name].name}: {lines[-1].strip('= ') if lines else 'no output'}"
              f" ({seconds:.0f} s)", file=stream, flush=True)

    t0 = time.time()
    try:
        schedule.run_graph(list(by_name), after or {}, start, max(1, int(jobs)), finished)
        for name, code in codes.items():
            if code != 0:      # the whole nbval report of a notebook that did not reproduce
                print(f"\n===== {by_name[name].name} =====\n{logs[name].read_text(errors='replace')}",
                      file=stream, flush=True)
    finally:
        for log in logs.values():
            log.unlink(missing_ok=True)
    rc = max(codes.values(), default=1)
    if any(c == 5 for c in codes.values()):
        print("pytest collected no notebook cells: that is a failure here", file=stream)
        rc = max(rc, 1) if rc != 5 else 1
    changed = [p.name for p in paths if _digest(p) != before[p]]
    if changed:
        print(f"ERROR: the check modified {', '.join(changed)}", file=stream)
        rc = rc or 1
    print(f"reproduction check {'passed' if rc == 0 else 'FAILED'} in {time.time() - t0:.0f} s",
          file=stream, flush=True)
    return rc
