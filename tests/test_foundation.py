"""The package's plumbing: command line, notebook sources, pipeline cache, Dockerfile, pins."""
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from astronn_paper import cache, config
from astronn_paper.pipeline import notebooks, stages

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "astronn_paper", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("run", "test", "synth", "compile", "train", "predict", "bench"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), f"command {cmd!r} missing from --help"


def test_cli_does_not_import_tensorflow():
    code = "import sys, astronn_paper.cli as c; c.build_parser(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_percent_format_round_trip(tmp_path):
    src = tmp_path / "N.py"
    src.write_text('# %% [markdown]\n# # Title\n#\n# text\n\n# %% tags=["parameters"]\n'
                   'profile = None\n\n# %%\nx = 1\n')
    nb_path = notebooks.build_notebook(src, tmp_path / "N.ipynb")
    nb = json.loads(nb_path.read_text())
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds == ["markdown", "code", "code"]
    assert "".join(nb["cells"][0]["source"]) == "# Title\n\ntext"
    assert nb["cells"][1]["metadata"]["tags"] == ["parameters"]
    assert "".join(nb["cells"][2]["source"]) == "x = 1"



def test_rebuild_keeps_the_outputs_of_unchanged_cells_only(tmp_path):
    import nbformat

    src, dest = tmp_path / "N.py", tmp_path / "N.ipynb"
    src.write_text("# %%\nx = 1\n\n# %%\ny = 2\n")
    notebooks.build_notebook(src, dest)
    nb = nbformat.read(str(dest), as_version=4)
    for cell, text in zip(nb.cells, ("one\n", "two\n")):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nbformat.write(nb, str(dest))
    src.write_text("# %% [markdown]\n# new text\n\n# %%\nx = 1\n\n# %%\ny = 3\n")
    notebooks.build_notebook(src, dest, keep_outputs=True)
    cells = nbformat.read(str(dest), as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert [o["text"] for o in cells[1].outputs] == ["one\n"] and cells[2].outputs == []
    assert [c["id"] for c in cells] == ["cell-00", "cell-01", "cell-02"]
    notebooks.build_notebook(src, dest)            # without keep_outputs: all cleared
    assert all(not c.get("outputs") for c in nbformat.read(str(dest), as_version=4).cells)

def test_committed_notebooks_match_their_sources():
    """Every top-level notebook is built from tools/notebooks/<Name>.py (same cell sources)."""
    for stage in stages.STAGES:
        nb_file = ROOT / f"{stage.name}.ipynb"
        if not nb_file.is_file():
            continue
        cells = notebooks.parse_percent((ROOT / "tools" / "notebooks" / f"{stage.name}.py").read_text())
        nb = json.loads(nb_file.read_text())
        assert ["".join(c["source"]) for c in nb["cells"]] == [c.source for c in cells], stage.name
        params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(params) == 1 and "profile = None" in "".join(params[0]["source"])



def _nb(*cells):
    """A notebook from ("md", text) and ("code", [outputs]) pairs."""
    nb = nbformat.v4.new_notebook()
    for kind, body in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
        else:
            nb.cells.append(nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.from_dict(o) for o in body]))
    return nb


def _stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def test_output_problems_finds_each_kind_of_plumbing():
    png = {"output_type": "display_data", "metadata": {},
           "data": {"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"}}
    clean = _nb(("md", "intro"),
                ("code", [_stream("scatter 0.05 dex, 12 km/s, 3/4 of data/default/x.h5\n"), png]),
                ("md", "verdict"))
    assert notebooks.output_problems(clean) == []
    cases = {
        "absolute path": [("code", [_stream("wrote /work/main/data/default/results/X.json\n")]), ("md", "m")],
        "object repr": [("code", [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                   "data": {"text/plain": "[PosixPath('figs/a.pdf')]"}}]), ("md", "m")],
        "stderr stream": [("code", [_stream("catalog: 100%|###| 20/20\n", "stderr")]), ("md", "m")],
        "error output": [("code", [{"output_type": "error", "ename": "ValueError", "evalue": "bad",
                                    "traceback": []}]),
                         ("md", "m")],
        "a figure with no markdown cell after it": [("code", [png]), ("code", []), ("md", "m")],
        "does not end with a markdown cell": [("md", "m"), ("code", [])],
    }
    for what, cells in cases.items():
        problems = notebooks.output_problems(_nb(*cells))
        assert len(problems) == 1 and what in problems[0], (what, problems)
    rendered = {"output_type": "display_data", "metadata": {},
                "data": {"text/markdown": "**Verdict.** 0.05",
                         "text/plain": "<IPython.core.display.Markdown object>"}}
    assert notebooks.output_problems(_nb(("code", [png]), ("code", [rendered]), ("md", "m"))) == []
    windows = _nb(("code", [_stream("saved to C:\\Users\\me\\x.fits")]), ("md", "m"))
    assert "absolute path" in notebooks.output_problems(windows)[0]


def test_committed_notebooks_hold_no_plumbing():
    """The committed notebooks (read on nbviewer) carry no machine path, object repr, stderr,
    error, figure without a verdict after it, and end with a conclusion."""
    found = {}
    for stage in stages.STAGES:
        nb_file = ROOT / f"{stage.name}.ipynb"
        if nb_file.is_file():
            problems = notebooks.output_problems(nbformat.read(str(nb_file), as_version=4))
            if problems:
                found[stage.name] = problems
    assert not found, "\n".join(f"{k}: {p}" for k, v in found.items() for p in v)

@pytest.fixture
def fake_repo(tmp_path, monkeypatch, data_home):
    """An empty repository root (the pipeline writes its notebooks there), the first stage,
    and a path for that stage's notebook source."""
    root = tmp_path / "repo"
    (root / "src" / "astronn_paper").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    monkeypatch.setenv(config.ROOT_ENV, str(root))
    return root, stages.STAGES[0], tmp_path / "nb.py"


def test_pipeline_reuses_unchanged_stage(fake_repo):
    """A stage runs once, is reused while nothing changes, and re-runs when its notebook does."""
    root, stage, src = fake_repo
    src.write_text('# %% tags=["parameters"]\nprofile = None\n\n# %%\n'
                   'import os\nprint("profile is", profile, os.environ["ASTRONN_PAPER_PROFILE"])\n')
    notebooks.build_notebook(src, root / f"{stage.name}.ipynb")
    first = stages.run("ci", stages=[stage.name], stream=open("/dev/null", "w"))
    second = stages.run("ci", stages=[stage.name], stream=open("/dev/null", "w"))
    assert [s["status"] for s in first] == ["ran"] and [s["status"] for s in second] == ["reused"]
    executed = json.loads(Path(first[0]["notebook"]).read_text())
    out = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "profile is ci ci" in out
    # papermill's injected parameters cell is removed: the notebook stays profile-neutral
    assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    src.write_text(src.read_text() + "\n# %%\nprint(2)\n")
    notebooks.build_notebook(src, root / f"{stage.name}.ipynb")
    third = stages.run("ci", stages=[stage.name], stream=open("/dev/null", "w"))
    assert [s["status"] for s in third] == ["ran"]


def test_failed_stage_names_the_error_and_keeps_the_notebook_out_of_the_repository(fake_repo):
    root, stage, src = fake_repo
    src.write_text('# %% tags=["parameters"]\nprofile = None\n\n# %%\n'
                   'raise RuntimeError("training diverged in all 3 attempts")\n')
    notebooks.build_notebook(src, root / f"{stage.name}.ipynb")
    log = io.StringIO()
    (rec,) = stages.run("ci", stages=[stage.name], stream=log)
    assert rec["status"] == "failed"
    assert "RuntimeError: training diverged in all 3 attempts" in rec["error"]
    assert "RuntimeError: training diverged in all 3 attempts" in log.getvalue()
    kept = stages.failed_path(stage, "ci")
    assert str(kept) in log.getvalue() and kept.is_file()
    assert "training diverged" in kept.read_text()          # the traceback is in it
    assert sorted(p.name for p in root.glob("*.ipynb")) == [f"{stage.name}.ipynb"]


def test_pipeline_rejects_unknown_stage():
    with pytest.raises(ValueError, match="unknown stage"):
        stages.run("ci", stages=["NoSuchNotebook"])


def test_dockerfile_is_pinned_and_consistent():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    # NGC TensorFlow 23.04-23.06 ship TensorFlow 2.12.0 (NVIDIA's release notes)
    assert re.fullmatch(r"nvcr\.io/nvidia/tensorflow:23\.0[456]-tf2-py3", base), base
    assert re.search(r"^COPY\s+\.\s+/opt/astronn_paper", text, re.M)
    assert "git clone" not in text and "wget" not in text and "curl" not in text
    assert "requirements.lock" in text and "-c /tmp/constraints.txt" in text
    assert "tensorflow" in re.search(r"grep -v -i -E '([^']+)'", text).group(1)  # TF kept from image
    assert 'CMD ["python", "-m", "astronn_paper", "run"]' in text
    assert "SDSS_LOCAL_SAS_MIRROR=/data/sas_mirror" in text
    assert (ROOT / "src" / "astronn_paper" / "__main__.py").is_file()


def test_pins_are_consistent():
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M))
    assert lock["astroNN"] == "1.1.0" and lock["tensorflow"] == "2.12.1"
    assert lock["tensorflow-probability"] == "0.20.1" and lock["numpy"] == "1.24.3"
    assert tuple(int(x) for x in lock["typing_extensions"].split(".")[:2]) < (4, 6)
    assert int(lock["setuptools"].split(".")[0]) < 70
    names = {re.sub(r"[-_.]+", "-", k.lower()) for k in lock}
    for pkg in ("bokeh", "mw-plot", "papermill", "nbval", "h5py", "astropy", "thecannon", "ipykernel"):
        assert pkg in names, pkg
    assert tuple(int(x) for x in lock["ipython"].split(".")[:2]) < (8, 23)


def test_readme_commands_are_the_ci_commands():
    text = (ROOT / "README.rst").read_text()
    test_cmd = re.search(r"test-command-start.*?\$ (.+?)\n", text, re.S).group(1)
    main_cmd = re.search(r"main-command-start.*?\$ (.+?)\n", text, re.S).group(1)
    assert "pip install -c requirements.lock" in test_cmd and "astronn_paper test" in test_cmd
    assert "astronn_paper run" in main_cmd
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_stream_outputs_are_merged_and_progress_bars_collapsed():
    import nbformat

    outs = [nbformat.v4.new_output("stream", name="stderr", text="  0%|   | 0/9\r"),
            nbformat.v4.new_output("stream", name="stderr", text=" 50%|#  | 4/9\r100%|###| 9/9\n"),
            nbformat.v4.new_output("stream", name="stdout", text="done\n"),
            nbformat.v4.new_output("stream", name="stdout", text="again\n")]
    merged = stages.merge_streams(outs)
    assert [o["name"] for o in merged] == ["stderr", "stdout"]
    assert merged[0]["text"] == "100%|###| 9/9\n" and merged[1]["text"] == "done\nagain\n"


def _stage_fingerprints(sources):
    return {s.name: stages.stage_fingerprint(s, "ci", sources) for s in stages.STAGES
            if stages.notebook_path(s).is_file()}


def test_a_docstring_edit_reruns_only_the_notebook_that_imports_the_module():
    """Editing ``analysis/catalog.py`` changes the catalog notebook's stage fingerprint and no
    other's; nothing changed, nothing changes."""
    from astronn_paper.pipeline import imports

    sources = imports.package_sources()
    before = _stage_fingerprints(sources)
    assert len(before) == len(stages.STAGES) and len(set(before.values())) == len(before)
    assert _stage_fingerprints(imports.package_sources()) == before
    edited = dict(sources)
    key = "astronn_paper.analysis.catalog"
    edited[key] = edited[key].replace('"""', '"""A docstring edit. ', 1)
    assert edited[key] != sources[key]
    after = _stage_fingerprints(edited)
    assert {n for n in before if before[n] != after[n]} == {"Apogee_dr14_NN_Catalog"}
    # code every notebook loads: all of them re-run
    edited = dict(sources, **{"astronn_paper.config": sources["astronn_paper.config"] + "\n# edit\n"})
    assert all(a != b for a, b in zip(before.values(), _stage_fingerprints(edited).values()))


def test_a_notebook_loads_the_modules_it_imports_transitively():
    from astronn_paper.pipeline import imports

    sources = imports.package_sources()
    code = "import numpy\nfrom astronn_paper.figures import save\n%matplotlib inline\n"
    code = stages.notebook_code_from_cells([code])
    mods = stages.code_modules(code, sources)
    assert {"astronn_paper", "astronn_paper.figures", "astronn_paper.config",
            "astronn_paper.cache"} <= mods
    assert not any(m.startswith("astronn_paper.analysis") for m in mods)
    catalog = stages.code_modules(stages.notebook_code(ROOT / "Apogee_dr14_NN_Catalog.ipynb"), sources)
    assert {"astronn_paper.analysis.catalog", "astronn_paper.synth.source", "astronn_paper.analysis.cannon",
            "astronn_paper.dataset.store"} <= catalog


def test_every_package_data_file_has_a_reader():
    """A data file in the package counts in the stages of the notebooks whose code reads it."""
    files = {p.relative_to(stages.PACKAGE_DIR).as_posix() for p in stages.PACKAGE_DIR.rglob("*")
             if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert files == set(stages.DATA_FILES)


def test_run_budget_sums_the_recorded_stages_and_trainings(data_home, capsys):
    """``benchmarks/bench_run.py`` adds the stages' recorded seconds and the trainings' wall
    times (side studies left out) and gives training's share and the GPU step estimate."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "bench_run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)
    for stage, seconds in zip(stages.STAGES[:2], (30.0, 90.0)):
        cache.atomic_write_json(stages._record_path(stage, "ci"),
                                {"stage": stage.name, "status": "ok", "seconds": seconds})
    for name, study, seconds in (("net_a", None, 240.0), ("side", "a side study", 999.0)):
        folder = config.models_dir("ci") / name
        folder.mkdir(parents=True)
        prov = {"profile": "ci", "n_train": 640, "training_wall_time_s": seconds,
                "network": {"epochs": 4, "batch_size": 64}}
        if study:
            prov["study"] = study
        (folder / "provenance.json").write_text(json.dumps(prov))
    assert bench_run.main(["--profile", "ci", "--gpu-step-ms", "10", "20"]) == 0
    text = capsys.readouterr().out
    assert "notebooks                             120.0 s" in text
    assert "networks the run trains (1)" in text and "side" not in text
    assert ("whole run with every network trained here (run --retrain; sum of the measured "
            "parts): 6.0 min; training 67 %") in text
    assert "from a clone" not in text           # the ci profile ships no networks
    assert "40 optimiser steps x 10-20 ms" in text           # 640 / 64 x 4 epochs
    assert "no successful run recorded for" in text


def test_progress_bars_are_switched_off_in_one_place(monkeypatch):
    """The long steps' bars share one factory: on unless asked off, and off for everyone while
    ``$ASTRONN_PAPER_PROGRESS`` is 0 (the pipeline sets it for the notebooks it executes)."""
    from astronn_paper import progress

    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.enabled() and not progress.enabled(False)
    assert not progress.bar(True, total=3, file=io.StringIO()).disable
    monkeypatch.setenv(progress.PROGRESS_ENV, "0")
    assert not progress.enabled(True) and progress.bar(True, total=3).disable


def test_rewrapping_a_code_cell_keeps_its_outputs_and_a_changed_one_loses_them(tmp_path):
    """build_notebook(keep_outputs=True): same syntax tree (lines re-wrapped, a string split into
    adjacent literals) keeps the outputs and takes the new layout; a changed number does not."""
    src, dest = tmp_path / "nb.py", tmp_path / "nb.ipynb"
    src.write_text('# %%\nprint(f"scatter {0.0312:.3f} dex", "of Fe")\n\n# %%\nprint(2)\n')
    notebooks.build_notebook(src, dest)
    nb = json.loads(dest.read_text())
    for i, cell in enumerate(nb["cells"]):
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"out {i}\n"}]
        cell["execution_count"] = i + 1
    dest.write_text(json.dumps(nb))
    src.write_text('# %%\nprint(f"scatter {0.0312:.3f} "\n      "dex",\n      "of Fe")\n\n# %%\nprint(3)\n')
    notebooks.build_notebook(src, dest, keep_outputs=True)
    cells = json.loads(dest.read_text())["cells"]
    assert "".join(cells[0]["source"]).startswith('print(f"scatter {0.0312:.3f} "\n')
    assert "".join(cells[0]["outputs"][0]["text"]) == "out 0\n" and cells[0]["execution_count"] == 1
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
