"""The package's layout draws the chain: no import cycle, each stage reads another stage's
data only through that stage's API, and the generator stays out of the real-data path."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "astronn_paper"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    p = PKG.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports (anywhere in the file, function-level included)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        is_pkg = path.name == "__init__.py"
        edges = graph.setdefault(mod, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    parent = parent[: len(parent) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base
                           for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t.startswith("astronn_paper") and t != mod)
    return graph


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


@pytest.mark.parametrize("stage", ["dataset", "model"])
def test_dataset_and_model_never_import_the_generator(stage):
    """Compile, training and inference run unchanged on a real SAS mirror: they see the
    synthetic survey only through the survey-source interface."""
    bad = {m: sorted(t for t in e if t.startswith("astronn_paper.synth"))
           for m, e in import_graph().items() if m.startswith(f"astronn_paper.{stage}")}
    assert {m: t for m, t in bad.items() if t} == {}


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
