"""Run the notebooks in the paper's order, caching each stage by a fingerprint of its inputs.

``python -m astronn_paper run [--profile ci|default|paper] [--stages NAME ...] [--force]``

A *stage* is one top-level notebook. Its fingerprint hashes the notebook's code and
markdown (not its outputs), the source of the package modules the notebook imports, directly
or through them (:func:`astronn_paper.pipeline.imports.closure`, with the package data files
those modules read) and the profile's settings: a notebook re-runs when the code it runs
changes, not on any edit anywhere. A stage whose fingerprint is unchanged and whose
executed notebook exists is reused; otherwise it is executed with papermill, the profile
injected as the ``profile`` parameter.

Stages whose inputs are ready run side by side (``--jobs``, default: the profile's workers,
two on a 2-core machine), each in its own process: much of a notebook's work is single-threaded
Python (rendering and normalising spectra), so two notebooks share two cores better than one.
Their outputs do not depend on it: every random draw is seeded per star or per stage, and the
inference engine's results do not depend on the load.

The heavy artifacts a notebook needs (datasets, trained models, predictions) are cached
separately, each by its own inputs (see :func:`astronn_paper.dataset.build_standard_sets`
and :func:`astronn_paper.model.train.ensure_model`), so that a notebook run on its own - in
Jupyter or under nbval - reuses them or builds what is missing.

The ``default`` profile executes the top-level notebooks in place (the committed notebooks
carry its outputs); other profiles write executed copies under ``<data>/<profile>/notebooks``.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from astronn_paper import cache, config
from astronn_paper.pipeline import imports, schedule
from astronn_paper.pipeline.reproduce import notebook_variables


@dataclass(frozen=True)
class Stage:
    name: str                    # notebook name without .ipynb
    summary: str                 # what it reproduces
    after: tuple[str, ...] = ()  # the stages whose products it reads (run before it)


#: The notebooks in the paper's order (the order of a one-at-a-time run).
STAGES: tuple[Stage, ...] = (
    Stage("Datasets_Data_Reduction", "training / test sets, cuts and normalisation"),
    Stage("Training", "train the censored and the full-spectrum network",
          ("Datasets_Data_Reduction",)),
    Stage("Inference_highSNR", "high-SNR test: table, errors vs Teff/logg/[X/H], Jacobian",
          ("Training",)),
    Stage("Inference", "individual visits versus SNR", ("Inference_highSNR",)),
    Stage("Inference_ApogeeBCNN", "the full-spectrum network beside the censored one",
          ("Inference_highSNR",)),
    Stage("Open_Globular_Cluster_Benchmark", "M67, NGC 6819 homogeneity and the M13 Al spread",
          ("Inference_highSNR",)),
    Stage("Apogee_dr14_NN_Catalog", "the whole-survey catalog and Milky Way maps",
          ("Inference_highSNR",)),  # reuses its predictions of the test set
    Stage("ASPCAP_Normalization", "ASPCAP versus continuum normalisation",
          ("Datasets_Data_Reduction",)),
    Stage("Small_Data", "scatter versus training-set size", ("Datasets_Data_Reduction",)),
)

#: When several stages are ready, the ones that start first (the longest chains and stages).
START_ORDER: tuple[str, ...] = ("Datasets_Data_Reduction", "Training", "Inference_highSNR",
                                "ASPCAP_Normalization", "Apogee_dr14_NN_Catalog",
                                "Inference_ApogeeBCNN", "Small_Data", "Inference",
                                "Open_Globular_Cluster_Benchmark")
# Stages read each other's caches (predictions, the response table) only along ``after``, so
# two stages that run at once never compute the same cache.


def in_start_order(stages) -> list[Stage]:
    """``stages`` in :data:`START_ORDER` (stages it does not name last)."""
    order = {name: i for i, name in enumerate(START_ORDER)}
    return sorted(stages, key=lambda s: order.get(s.name, len(order)))


def notebook_path(stage: Stage) -> Path:
    return config.repo_root() / f"{stage.name}.ipynb"


def executed_path(stage: Stage, profile) -> Path:
    p = config.get_profile(profile)
    if p.name == "default":
        return notebook_path(stage)
    return config.sub_dir("notebooks", p) / f"{stage.name}.ipynb"


def failed_path(stage: Stage, profile) -> Path:
    """Where the partly executed copy of a notebook that failed is kept."""
    return config.sub_dir("failed", profile) / f"{stage.name}.ipynb"


#: The package whose source files decide whether a stage re-runs.
PACKAGE_DIR = imports.PACKAGE_DIR
#: The package's data files (relative to :data:`PACKAGE_DIR`) and the module that reads each.
DATA_FILES: dict[str, str] = {"data/paper_results.json": "astronn_paper.paper"}


def notebook_fingerprint(path: Path) -> str:
    """Hash of a notebook's cell types and sources (outputs and metadata excluded)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return cache.parts_fingerprint(*(f"{c.cell_type}\0{c.source}".encode() for c in nb.cells))


def notebook_code(path: Path) -> str:
    """The Python of a notebook's code cells (IPython magics turned into calls)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return notebook_code_from_cells(c.source for c in nb.cells if c.cell_type == "code")


def notebook_code_from_cells(cells) -> str:
    """The Python of code cells' sources, IPython magics turned into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    tm = TransformerManager()
    return "\n".join(tm.transform_cell(c) for c in cells)


def code_modules(code: str, sources: dict[str, str]) -> set[str]:
    """The package modules that running ``code`` loads, given the package's ``sources``
    (module name -> source text), transitively."""
    graph = _import_graph(tuple(sorted(sources.items())))
    packages = {m.rsplit(".", 1)[0] for m in sources if "." in m}
    return imports.closure(graph, imports.imports_of(code, None, sources, packages))


@functools.lru_cache(maxsize=4)
def _import_graph(items: tuple) -> dict:
    return imports.import_graph(dict(items))


def code_fingerprint(code: str, sources: dict[str, str] | None = None,
                     root: Path = PACKAGE_DIR) -> str:
    """Hash of the package modules (and their data files) that running ``code`` loads."""
    sources = imports.package_sources(root) if sources is None else sources
    modules = code_modules(code, sources)
    parts = [f"{m}\0{sources[m]}".encode() for m in sorted(modules)]
    parts += [f"{f}\0".encode() + (root / f).read_bytes()
              for f, reader in sorted(DATA_FILES.items()) if reader in modules]
    return cache.parts_fingerprint(*parts)


def stage_fingerprint(stage: Stage, profile, sources: dict[str, str] | None = None) -> str:
    """The notebook's cells, the code it loads (:func:`code_fingerprint` over ``sources``,
    default the package as installed) and the profile's settings. The data a notebook reads
    (datasets, networks, predictions) it builds or reuses through that code, each cached by
    its own inputs."""
    p = config.get_profile(profile)
    path = notebook_path(stage)
    return cache.parts_fingerprint(notebook_fingerprint(path).encode(),
                                   code_fingerprint(notebook_code(path), sources).encode(),
                                   json.dumps(p.as_dict(), sort_keys=True, default=str).encode())


def _record_path(stage: Stage, profile) -> Path:
    return config.sub_dir("stages", profile) / f"{stage.name}.json"


def read_record(stage: Stage, profile) -> dict:
    path = _record_path(stage, profile)
    return json.loads(path.read_text()) if path.is_file() else {}


def execute(stage: Stage, profile, kernel_name: str | None = None) -> Path:
    """Execute one notebook with papermill (profile injected) and return the executed copy."""
    import papermill

    p = config.get_profile(profile)
    out = executed_path(stage, p)
    tmp = out.with_name(out.stem + ".running.ipynb")
    # the profile, no progress bars (stderr) in the notebook as committed, inline figures
    # whatever backend the calling shell chose, and fp32 products, which print the same digits
    # on every x86-64 CPU (bf16 ones depend on the CPU's instructions)
    variables = notebook_variables(p.name)
    env_before = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        papermill.execute_notebook(
            str(notebook_path(stage)), str(tmp), parameters={"profile": p.name},
            kernel_name=kernel_name or "python3", cwd=str(config.repo_root()),
            progress_bar=False, request_save_on_cell_execute=False,
        )
    except Exception:
        # keep the partly executed notebook (with the failing cell's traceback) out of the
        # repository, where the user is told to look
        if tmp.is_file():
            failed = failed_path(stage, p)
            os.replace(tmp, failed)
        raise
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    clean_executed_notebook(tmp)
    os.replace(tmp, out)   # the executed copy is complete: move it into place
    return out


def clean_executed_notebook(path: Path) -> None:
    """Drop run-specific papermill metadata (timestamps, durations) so that re-running
    the default profile leaves the committed notebooks' diffs to the science, and drop the
    cell papermill injects with ``profile = "<name>"``: the executed notebook must stay
    re-runnable under any profile (nbval sets ``ASTRONN_PAPER_PROFILE``, and the kernel ran
    with that variable set to the same profile)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, str(path))


def merge_streams(outputs: list) -> list:
    """Merge consecutive stdout/stderr outputs of a cell and resolve carriage returns
    (nbconvert's ``CoalesceStreamsPreprocessor``), so that a progress bar's hundreds of
    updates read as its final line on nbviewer."""
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    cell = nbformat.v4.new_code_cell(outputs=[nbformat.from_dict(o) for o in outputs])
    cell, _ = CoalesceStreamsPreprocessor().preprocess_cell(cell, {}, 0)
    return cell.outputs


def fingerprints(profile) -> dict[str, str]:
    """Every present stage's fingerprint, by name (:func:`stage_fingerprint`)."""
    p = config.get_profile(profile)
    sources = imports.package_sources()
    return {stage.name: stage_fingerprint(stage, p, sources) for stage in STAGES
            if notebook_path(stage).is_file()}


def default_jobs(profile=None) -> int:
    """Stages run side by side by default: the profile's worker count (at most the cores)."""
    return max(1, config.get_profile(profile).workers)


def _execute_child(argv: list[str]) -> int:
    """``python -m astronn_paper.pipeline.stages NAME PROFILE RESULT``: execute one stage in
    this process and write ``{"status", "error"}`` to RESULT (the parent schedules stages)."""
    name, profile, result = argv
    stage = next(s for s in STAGES if s.name == name)
    try:
        execute(stage, profile)
        status, error = "ok", None
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        status = "failed"
        what = (f"{exc.ename}: {exc.evalue}" if getattr(exc, "ename", None)
                else f"{type(exc).__name__}: {exc}")
        first = (what.strip().splitlines() or [""])[0]
        error = f"{first} (executed notebook: {failed_path(stage, profile)})"
    cache.atomic_write_json(Path(result), {"status": status, "error": error}, sort_keys=False)
    return 0


def _start(stage: Stage, profile) -> tuple:
    """Start one stage in a child process; returns (process, result path, log path)."""
    import subprocess

    folder = config.sub_dir("stages", profile)
    result = folder / f"{stage.name}.result.json"
    result.unlink(missing_ok=True)
    log = folder / f"{stage.name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "astronn_paper.pipeline.stages", stage.name,
                                 config.get_profile(profile).name, str(result)],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, result, log


def _outcome(proc, result: Path, log: Path) -> tuple[str, str | None]:
    if result.is_file():
        out = json.loads(result.read_text())
        result.unlink()
        return out["status"], out["error"]
    tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
    return "failed", (f"the stage's process exited with {proc.returncode}"
                      + (f": {tail[0]}" if tail else "") + f" (log: {config.shown_path(log)})")


def run(profile=None, stages: list[str] | None = None, force: bool = False,
        stream=sys.stdout, retrain: bool = False, jobs: int | None = None) -> list[dict]:
    """Run the pipeline; returns one summary record per stage, in the paper's order. With
    ``retrain`` the notebooks train their networks here rather than use the folders shipped with
    the repository. Up to ``jobs`` stages whose inputs are ready run at once (default
    :func:`default_jobs`); a stage starts when the stages it reads from have finished (if one
    failed, it still runs and builds what it needs itself)."""
    from astronn_paper.model.train import RETRAIN_ENV

    p = config.get_profile(profile)
    jobs = default_jobs(p) if jobs is None else int(jobs)
    if jobs < 1:
        raise config.UserValueError(f"--jobs must be at least 1, got {jobs}")
    if retrain:
        os.environ[RETRAIN_ENV] = "1"     # inherited by the notebooks' kernels
        force = True
    wanted = set(stages) if stages else None
    unknown = (wanted or set()) - {s.name for s in STAGES}
    if unknown:
        raise config.UserValueError(f"unknown stage(s) {sorted(unknown)}; stages: "
                                    + ", ".join(s.name for s in STAGES))
    t_start = time.time()
    available = [s for s in STAGES if notebook_path(s).is_file()]
    number = {s.name: i for i, s in enumerate(available, 1)}
    print(f"astronn_paper pipeline, profile '{p.name}': {len(available)} of {len(STAGES)} "
          f"notebooks present; up to {jobs} at a time", file=stream, flush=True)
    fps = fingerprints(p)

    def head(stage):
        return f"[{number[stage.name]}/{len(available)}] {stage.name:<34}"

    results: dict[str, dict] = {}
    todo = []
    for stage in available:
        if wanted is not None and stage.name not in wanted:
            continue
        rec, out = read_record(stage, p), executed_path(stage, p)
        if not force and rec.get("fingerprint") == fps[stage.name] and rec.get("status") == "ok" \
                and out.is_file():
            print(f"{head(stage)} reused   (fingerprint {fps[stage.name]})", file=stream, flush=True)
            results[stage.name] = {"stage": stage.name, "status": "reused", "seconds": 0.0,
                                   "notebook": str(out)}
        else:
            todo.append(stage)
    todo = in_start_order(todo)
    by_name = {s.name: s for s in todo}
    context: dict[str, tuple[Path, Path]] = {}

    def begin(name):
        print(f"{head(by_name[name])} running  ...", file=stream, flush=True)

    def start(name):
        proc, *context[name] = _start(by_name[name], p)
        return proc

    def done(name, proc, dt):
        stage, out = by_name[name], executed_path(by_name[name], p)
        status, error = _outcome(proc, *context[name])
        record = {"stage": name, "fingerprint": fps[name], "status": status, "seconds": round(dt, 1),
                  "notebook": config.shown_path(out), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        cache.atomic_write_json(_record_path(stage, p), record, sort_keys=False)
        print(f"{head(stage)} {status:<8} ({dt:6.1f} s)", file=stream, flush=True)
        if status != "ok":    # later notebooks build their own inputs: carry on, report at the end
            print(f"    {error.splitlines()[0] if error else ''}", file=stream, flush=True)
        results[name] = {"stage": name, "status": "ran" if status == "ok" else "failed",
                         "seconds": dt, "notebook": str(out), "error": error}

    schedule.run_graph([s.name for s in todo], {s.name: s.after for s in todo}, start, jobs,
                       done, started=begin)
    wall = time.time() - t_start
    summary = [results[s.name] for s in available if s.name in results]
    ran = [s["stage"] for s in summary if s["status"] == "ran"]
    reused = [s["stage"] for s in summary if s["status"] == "reused"]
    failed = [s["stage"] for s in summary if s["status"] == "failed"]
    if ran or failed:
        cache.atomic_write_json(config.sub_dir("stages", p) / "run.json",
                                {"wall_s": round(wall, 1), "jobs": jobs, "ran": ran, "failed": failed,
                                 "reused": reused, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
                                sort_keys=False)
    print(f"\nsummary ({wall:.0f} s): ran {len(ran)}, reused {len(reused)}, "
          f"failed {len(failed)}", file=stream)
    if ran:
        print("  ran:    " + ", ".join(ran), file=stream)
    if reused:
        print("  reused: " + ", ".join(reused), file=stream)
    if failed:
        print("  FAILED: " + ", ".join(failed), file=stream)
    print(f"  executed notebooks: {executed_path(STAGES[0], p).parent}", file=stream)
    print(f"  figures:            {config.figs_dir(p)}", file=stream)
    print(f"  data:               {config.data_dir(p)}", file=stream)
    return summary


def read_run_record(profile) -> dict:
    """The last run's wall time, concurrency and stages (``{}`` before the first run)."""
    path = config.sub_dir("stages", profile) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute the notebooks in order (cached by fingerprint)")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size (default: $ASTRONN_PAPER_PROFILE or 'default')")
    p.add_argument("--stages", nargs="+", metavar="NAME", default=None,
                   help="run only these notebooks: " + ", ".join(s.name for s in STAGES))
    p.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p.add_argument("--retrain", action="store_true",
                   help="train every network here instead of using the shipped model folders")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="notebooks run side by side when their inputs are ready "
                        "(default: the profile's workers, 2 on a 2-core machine)")
    p.set_defaults(func=lambda a: 1 if any(s["status"] == "failed" for s in
                                          run(a.profile, a.stages, a.force, retrain=a.retrain,
                                              jobs=a.jobs)) else 0)

    t = subparsers.add_parser("test", help="unit tests + nbval over the notebooks (ci profile)")
    t.add_argument("pytest_args", nargs="*", help="extra arguments passed to pytest")
    t.add_argument("--reproduce", action="store_true",
                   help="instead: re-run the committed notebooks (default profile) under nbval and "
                        "compare every text output (see astronn_paper.pipeline.reproduce)")
    t.add_argument("--quick", action="store_true",
                   help="the inner loop: unit tests only, without the 'slow' and 'subprocess' ones "
                        "and without the notebooks (CI runs everything)")
    t.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="pytest sessions side by side: the unit tests and the notebooks (default as "
                        "for run)")
    t.set_defaults(func=lambda a: _reproduce(a.pytest_args, a.jobs) if a.reproduce
                   else run_tests(a.pytest_args, a.jobs, quick=a.quick))


def _reproduce(extra: list[str], jobs: int | None = None) -> int:
    """``test --reproduce``: the committed notebooks re-run under nbval, outputs compared."""
    from astronn_paper.pipeline import reproduce

    present = [s for s in STAGES if notebook_path(s).is_file()]
    present = in_start_order(present)
    return reproduce.check([notebook_path(s) for s in present], extra,
                           after={s.name: s.after for s in present}, jobs=jobs or default_jobs("default"))


def run_tests(extra: list[str] | None = None, jobs: int | None = None, quick: bool = False) -> int:
    """The README's test command: the unit tests, and every top-level notebook under nbval
    (``--nbval-lax``), all with the ``ci`` profile. The unit tests and the notebooks (each
    after the notebooks it reads from) run side by side, up to ``jobs`` pytest sessions at a
    time (default :func:`default_jobs`); with ``extra`` pytest arguments, one session runs
    everything, as pytest would. ``quick``: the unit tests not marked ``slow`` or
    ``subprocess``, no notebooks, in one session."""
    import subprocess

    root = config.repo_root()
    present = [s for s in STAGES if notebook_path(s).is_file()]
    notebooks = [str(notebook_path(s).relative_to(root)) for s in present]
    env = dict(os.environ, **{config.PROFILE_ENV: "ci"})
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    if extra or quick:
        selection = ["-m", "not slow and not subprocess"] if quick else [*notebooks, "--nbval-lax"]
        cmd = [*base[:3], "tests", *selection, *base[3:], *(extra or [])]
        print("running:", " ".join(cmd), flush=True)
        rc = subprocess.call(cmd, cwd=root, env=env)
        if rc == 5:
            print("pytest collected no tests: that is a failure here", file=sys.stderr)
            return 1
        return rc
    jobs = default_jobs("ci") if jobs is None else int(jobs)
    present = in_start_order(present)
    commands = {"unit tests": [*base, "tests"]}
    commands.update({s.name: [*base, str(notebook_path(s).relative_to(root)), "--nbval-lax"]
                     for s in present})
    names = [present[0].name, "unit tests", *[s.name for s in present[1:]]] if present else ["unit tests"]
    print(f"running {len(commands)} pytest sessions, up to {jobs} at a time (ci profile): the unit "
          f"tests and {len(present)} notebooks under nbval --nbval-lax", flush=True)
    logs = {n: config.sub_dir("tests", "ci") / f"{n.replace(' ', '_')}.log" for n in commands}
    codes: dict[str, int] = {}

    def start(name):
        print(f"  {name:<34} running ...", flush=True)
        with open(logs[name], "wb") as fh:
            return subprocess.Popen(commands[name], cwd=root, env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def finished(name, proc, seconds):
        codes[name] = proc.returncode
        lines = [ln for ln in logs[name].read_text(errors="replace").splitlines() if ln.strip()]
        print(f"  {name:<34} {lines[-1].strip('= ') if lines else 'no output'} ({seconds:.0f} s)",
              flush=True)

    t0 = time.time()
    schedule.run_graph(names, {s.name: s.after for s in present}, start, jobs, finished)
    failed = [n for n in names if codes.get(n) != 0]
    for name in failed:          # the whole pytest report of a session that failed
        print(f"\n===== {name}: {' '.join(commands[name][1:])} =====\n"
              f"{logs[name].read_text(errors='replace')}", flush=True)
    print(f"\n{'all passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"({time.time() - t0:.0f} s; logs in {config.shown_path(logs['unit tests'].parent)})")
    if any(codes.get(n) == 5 for n in names):
        print("a pytest session collected no tests: that is a failure here", file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(_execute_child(sys.argv[1:]))
