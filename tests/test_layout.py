"""The package's layout draws the chain: no import cycle, each stage reads another stage's
data only through that stage's API, and the generator stays out of the real-data path."""
from __future__ import annotations

from pathlib import Path

import pytest

from astronn_paper.pipeline import imports

PKG = Path(__file__).resolve().parents[1] / "src" / "astronn_paper"


def _module_name(path: Path) -> str:
    return imports.module_name(path, PKG)


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports (anywhere in the file, function-level included)."""
    return {m: set(edges) for m, edges in imports.import_graph(imports.package_sources(PKG)).items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 40 and "astronn_paper.survey.source" in graph["astronn_paper.survey.mirror"]
    assert cycles(graph) == []


#: The dataset modules that see the generator: the choice of survey source, and the ``synth``
#: command (the generator's export with the rows of the paper's cuts).
SEES_THE_GENERATOR = {"astronn_paper.dataset.sources", "astronn_paper.dataset.export"}


@pytest.mark.parametrize("stage", ["dataset", "model"])
def test_dataset_and_model_never_import_the_generator(stage):
    """Compile, training and inference run unchanged on a real SAS mirror: they see the
    synthetic survey only through the survey-source interface."""
    bad = {m: sorted(t for t in e if t.startswith("astronn_paper.synth"))
           for m, e in import_graph().items()
           if m.startswith(f"astronn_paper.{stage}") and m not in SEES_THE_GENERATOR}
    assert {m: t for m, t in bad.items() if t} == {}


def test_imports_run_down_the_layers():
    """config/apogee/cache/progress/paper -> survey -> synth -> dataset -> model -> analysis ->
    figures -> pipeline -> cli: no import (function-level ones included) runs back up."""
    graph = imports.import_graph(imports.package_sources(PKG))
    assert {m.split(".")[1] for m in graph if "." in m} >= {n for layer in imports.LAYERS[1:-1]
                                                            for n in layer}
    assert imports.back_arrows(graph) == []


def _planted(module: str, line: str) -> dict[str, str]:
    sources = imports.package_sources(PKG)
    sources[module] = sources[module] + f"\n\ndef _planted():\n    {line}\n"
    return sources


@pytest.mark.parametrize("module, line, target", [
    ("astronn_paper.survey.source", "from astronn_paper.synth import catalog", "astronn_paper.synth.catalog"),
    ("astronn_paper.synth.export", "from astronn_paper import dataset", "astronn_paper.dataset"),
    ("astronn_paper.apogee", "from astronn_paper.survey import release", "astronn_paper.survey.release"),
    ("astronn_paper.config", "import astronn_paper.model.train", "astronn_paper.model.train"),
    ("astronn_paper.figures.datasets", "from ..pipeline import stages", "astronn_paper.pipeline.stages"),
])
def test_a_planted_back_arrow_is_named_with_file_and_line(module, line, target):
    """The check fails on one import planted inside a function, naming file and line."""
    sources = _planted(module, line)
    arrows = imports.back_arrows(imports.import_graph(sources))
    n_lines = len(sources[module].splitlines())
    path = imports.source_file(module, {m.rsplit(".", 1)[0] for m in sources if "." in m})
    assert arrows == [f"{path}:{n_lines}: {module} imports {target} "
                      f"({'/'.join(imports.LAYERS[imports.layer_of(target)])} comes after "
                      f"{'/'.join(imports.LAYERS[imports.layer_of(module)])})"]


def test_a_module_in_no_layer_is_refused():
    with pytest.raises(KeyError, match="no layer"):
        imports.layer_of("astronn_paper.newstage.thing")


def test_only_the_store_opens_dataset_files():
    """h5py files are opened only by the stage that owns their format."""
    owners = {
        "astronn_paper.dataset.store": "the compiled datasets",
        "astronn_paper.model.predictions": "the prediction caches",
        "astronn_paper.model.train": "astroNN's weights file (optimizer state stripped)",
        "astronn_paper.model.folder": "astroNN's weights file (checked before loading)",
        "astronn_paper.model.bench": "the memory benchmark's own spectra file",
    }
    users = set()
    for path in PKG.rglob("*.py"):
        if "h5py.File(" in path.read_text():
            users.add(_module_name(path))
    assert users <= set(owners), sorted(users - set(owners))
    assert "astronn_paper.dataset.store" in users
