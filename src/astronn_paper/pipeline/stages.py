"""Run the notebooks in the paper's order, caching each stage by a fingerprint of its inputs.

``python -m astronn_paper run [--profile ci|default|paper] [--stages NAME ...] [--force]``

A *stage* is one top-level notebook. Its fingerprint hashes the notebook's code and
markdown (not its outputs), the source of the package modules the notebook imports, directly
or through them (:func:`astronn_paper.pipeline.imports.closure`, with the package data files
those modules read) and the profile's settings: a notebook re-runs when the code it runs
changes, not on any edit anywhere. A stage whose fingerprint is unchanged and whose
executed notebook exists is reused; otherwise it is executed with papermill, the profile
injected as the ``profile`` parameter.

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
from astronn_paper.pipeline import imports
from astronn_paper.pipeline.reproduce import notebook_variables


@dataclass(frozen=True)
class Stage:
    name: str          # notebook name without .ipynb
    summary: str       # what it reproduces


#: The notebooks in the paper's order.
STAGES: tuple[Stage, ...] = (
    Stage("Datasets_Data_Reduction", "training / test sets, cuts and normalisation"),
    Stage("Training", "train the censored and the full-spectrum network"),
    Stage("Inference_highSNR", "high-SNR test: table, errors vs Teff/logg/[X/H], Jacobian"),
    Stage("Inference", "individual visits versus SNR"),
    Stage("Inference_ApogeeBCNN", "the full-spectrum network beside the censored one"),
    Stage("Open_Globular_Cluster_Benchmark", "M67, NGC 6819 homogeneity and the M13 Al spread"),
    Stage("Apogee_dr14_NN_Catalog", "the whole-survey catalog and Milky Way maps"),
    Stage("ASPCAP_Normalization", "ASPCAP versus continuum normalisation"),
    Stage("Small_Data", "scatter versus training-set size"),
)


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


def run(profile=None, stages: list[str] | None = None, force: bool = False,
        stream=sys.stdout, retrain: bool = False) -> list[dict]:
    """Run the pipeline; returns one summary record per stage. With ``retrain`` the notebooks
    train their networks here rather than use the folders shipped with the repository."""
    from astronn_paper.model.train import RETRAIN_ENV

    p = config.get_profile(profile)
    if retrain:
        os.environ[RETRAIN_ENV] = "1"     # inherited by the notebooks' kernels
        force = True
    wanted = set(stages) if stages else None
    unknown = (wanted or set()) - {s.name for s in STAGES}
    if unknown:
        raise config.UserValueError(f"unknown stage(s) {sorted(unknown)}; stages: "
                                    + ", ".join(s.name for s in STAGES))
    summary = []
    t_start = time.time()
    available = [s for s in STAGES if notebook_path(s).is_file()]
    sources = imports.package_sources()
    print(f"astronn_paper pipeline, profile '{p.name}': {len(available)} of {len(STAGES)} "
          f"notebooks present", file=stream, flush=True)
    for i, stage in enumerate(available, 1):
        if wanted is not None and stage.name not in wanted:
            continue
        fp = stage_fingerprint(stage, p, sources)
        rec = read_record(stage, p)
        out = executed_path(stage, p)
        head = f"[{i}/{len(available)}] {stage.name:<34}"
        if not force and rec.get("fingerprint") == fp and rec.get("status") == "ok" and out.is_file():
            print(f"{head} reused   (fingerprint {fp})", file=stream, flush=True)
            summary.append({"stage": stage.name, "status": "reused", "seconds": 0.0, "notebook": str(out)})
            continue
        print(f"{head} running  ...", file=stream, flush=True)
        t0 = time.time()
        try:
            execute(stage, p)
            status, error = "ok", None
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
            status = "failed"
            what = (f"{exc.ename}: {exc.evalue}" if getattr(exc, "ename", None)
                    else f"{type(exc).__name__}: {exc}")
            first = (what.strip().splitlines() or [""])[0]
            error = f"{first} (executed notebook: {failed_path(stage, p)})"
        dt = time.time() - t0
        record = {"stage": stage.name, "fingerprint": fp, "status": status, "seconds": round(dt, 1),
                  "notebook": config.shown_path(out), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        path = _record_path(stage, p)
        cache.atomic_write_json(path, record, sort_keys=False)
        print(f"{head} {status:<8} ({dt:6.1f} s)", file=stream, flush=True)
        summary.append({"stage": stage.name, "status": "ran" if status == "ok" else "failed",
                        "seconds": dt, "notebook": str(out), "error": error})
        if status != "ok":  # later notebooks build their own inputs: carry on, report at the end
            print(f"    {error.splitlines()[0] if error else ''}", file=stream)
    ran = [s["stage"] for s in summary if s["status"] == "ran"]
    reused = [s["stage"] for s in summary if s["status"] == "reused"]
    failed = [s["stage"] for s in summary if s["status"] == "failed"]
    print(f"\nsummary ({time.time() - t_start:.0f} s): ran {len(ran)}, reused {len(reused)}, "
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


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute the notebooks in order (cached by fingerprint)")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size (default: $ASTRONN_PAPER_PROFILE or 'default')")
    p.add_argument("--stages", nargs="+", metavar="NAME", default=None,
                   help="run only these notebooks: " + ", ".join(s.name for s in STAGES))
    p.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p.add_argument("--retrain", action="store_true",
                   help="train every network here instead of using the shipped model folders")
    p.set_defaults(func=lambda a: 1 if any(s["status"] == "failed" for s in
                                          run(a.profile, a.stages, a.force, retrain=a.retrain)) else 0)

    t = subparsers.add_parser("test", help="unit tests + nbval over the notebooks (ci profile)")
    t.add_argument("pytest_args", nargs="*", help="extra arguments passed to pytest")
    t.add_argument("--reproduce", action="store_true",
                   help="instead: re-run the committed notebooks (default profile) under nbval and "
                        "compare every text output (see astronn_paper.pipeline.reproduce)")
    t.set_defaults(func=lambda a: _reproduce(a.pytest_args) if a.reproduce else run_tests(a.pytest_args))


def _reproduce(extra: list[str]) -> int:
    """``test --reproduce``: the committed notebooks re-run under nbval, outputs compared."""
    from astronn_paper.pipeline import reproduce

    return reproduce.check([notebook_path(s) for s in STAGES if notebook_path(s).is_file()], extra)


def run_tests(extra: list[str] | None = None) -> int:
    """The README's test command: unit tests, then every top-level notebook under nbval
    (``--nbval-lax``), all with the ``ci`` profile, in one pytest session."""
    import subprocess

    root = config.repo_root()
    notebooks = [str(notebook_path(s).relative_to(root)) for s in STAGES if notebook_path(s).is_file()]
    env = dict(os.environ, **{config.PROFILE_ENV: "ci"})
    cmd = [sys.executable, "-m", "pytest", "tests", *notebooks, "--nbval-lax",
           "-p", "no:cacheprovider", *(extra or [])]
    print("running:", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=root, env=env)
    if rc == 5:
        print("pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return rc
