"""The package's import graph: which modules a piece of code imports, and in which order the
layers may import each other.

Imports run one way, down :data:`LAYERS`; a module may import its own layer or one before it.
:func:`import_graph` reads every import statement of the package's source (inside functions
too) with :mod:`ast`; :func:`back_arrows` names each import that runs up the order;
:func:`closure` gives what a piece of code loads, transitively (the stage fingerprints of
:mod:`astronn_paper.pipeline.stages` hash exactly those modules).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Mapping

PACKAGE = "astronn_paper"
#: The package's source folder.
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: The layers, first to last: the top-level modules or subpackages of each.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "config", "apogee", "cache", "progress", "paper", "fitstable"),
    ("survey",), ("synth",), ("dataset",), ("model",), ("analysis",), ("figures",), ("pipeline",),
    ("cli", "__main__"),
)


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    """``astronn_paper.survey.source`` for ``<root>/survey/source.py`` (a package is its
    ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join([PACKAGE] + (parts[:-1] if parts[-1] == "__init__" else parts))


def package_sources(root: Path = PACKAGE_DIR) -> dict[str, str]:
    """Module name -> source text of every ``.py`` file of the package under ``root``."""
    return {module_name(p, root): p.read_text()
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def imports_of(source: str, module: str | None, modules: Iterable[str],
               packages: Iterable[str] = ()) -> dict[str, list[int]]:
    """Package modules that ``source`` imports -> the line numbers of those imports.

    ``module`` is the importing module's name (for relative imports; ``None`` for a notebook's
    code), ``modules`` the package's module names, ``packages`` those that are packages.
    ``from astronn_paper.x import y`` counts ``astronn_paper.x.y`` when that is a module,
    else ``astronn_paper.x``.
    """
    modules, packages = set(modules), set(packages)
    out: dict[str, list[int]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".") if module in packages else module.split(".")[:-1]
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules and "." in t:   # import a.b.c where c is a name
                t = t.rsplit(".", 1)[0]
            if t in modules and t != module:
                out.setdefault(t, []).append(node.lineno)
    return out


def import_graph(sources: Mapping[str, str] | None = None) -> dict[str, dict[str, list[int]]]:
    """Module -> {imported package module -> line numbers}, from every import statement
    (function-level ones included) of ``sources`` (default: :func:`package_sources`)."""
    sources = package_sources() if sources is None else sources
    packages = _packages(sources)
    return {m: imports_of(text, m, sources, packages) for m, text in sources.items()}


def _packages(modules: Iterable[str]) -> set[str]:
    """The modules that are packages (a prefix of another module's name)."""
    return {m.rsplit(".", 1)[0] for m in modules if "." in m} | {PACKAGE}


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of a package module."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(f"{module} is in no layer of {PACKAGE}.pipeline.imports.LAYERS")


def back_arrows(graph: Mapping[str, Mapping[str, list[int]]]) -> list[str]:
    """One line per import that runs up the layer order: ``file:line: a imports b (layer of
    b after layer of a)``."""
    packages, out = _packages(graph), []
    for mod in sorted(graph):
        for target, lines in sorted(graph[mod].items()):
            if layer_of(target) > layer_of(mod):
                for line in lines:
                    out.append(f"{source_file(mod, packages)}:{line}: {mod} imports {target} "
                               f"({'/'.join(LAYERS[layer_of(target)])} comes after "
                               f"{'/'.join(LAYERS[layer_of(mod)])})")
    return out


def source_file(module: str, packages: set[str]) -> str:
    """The path of a module's file relative to ``src/`` (``astronn_paper/survey/source.py``),
    ``packages`` being the modules that are packages."""
    rel = module.replace(".", "/")
    return f"{rel}/__init__.py" if module in packages else f"{rel}.py"


def closure(graph: Mapping[str, Mapping[str, list[int]]], roots: Iterable[str]) -> set[str]:
    """Every module loaded when ``roots`` are imported: their imports, transitively, and the
    packages that contain each (Python runs a package's ``__init__`` first)."""
    todo, seen = list(roots), set()
    while todo:
        m = todo.pop()
        if m in seen or m not in graph:
            continue
        seen.add(m)
        todo.extend(graph[m])
        parts = m.split(".")
        todo.extend(".".join(parts[:k]) for k in range(1, len(parts)))
    return seen
