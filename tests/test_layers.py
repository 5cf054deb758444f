"""The package's import graph: no cycle among vaekit's modules (imports inside functions count),
and no module imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import vaekit

ROOT = Path(vaekit.__file__).parent

# Bottom to top (docs/design.md draws them). A module's layer is its longest matching prefix.
# The registries sit at the bottom and are filled from above (each names the module that fills
# it, without importing it); the package root is the public facade over all of them.
LAYERS = [
    ("base", ("vaekit.errors", "vaekit.files", "vaekit.registry", "vaekit.plugins")),
    ("settings", ("vaekit.settings",)),
    ("report", ("vaekit.report",)),
    ("datasets", ("vaekit.datasets",)),
    ("models", ("vaekit.models",)),
    ("objectives", ("vaekit.objectives",)),
    ("run", ("vaekit.run",)),
    ("train", ("vaekit.train",)),
    ("tasks", ("vaekit.tasks",)),
    ("interop", ("vaekit.interop",)),
    ("serve", ("vaekit.serve",)),
    ("cli", ("vaekit.cli",)),
    ("public", ("vaekit", "vaekit.__main__", "vaekit.sklearn")),
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """vaekit module -> the vaekit modules it imports anywhere (at the top or in a function)."""
    paths = {_module(p): p for p in ROOT.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{up}.{base}" if base else up
                targets = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            found |= {t for t in map(resolve, targets) if t and t.startswith("vaekit") and t != name}
        graph[name] = found
    return graph


def layer(module: str) -> int:
    matches = [(len(prefix), rank) for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS (and to docs/design.md)"
    return max(matches)[1]


def test_no_module_imports_one_that_imports_it_back():
    graph = imports()
    assert len(graph) > 80 and "vaekit.models.backbones" in graph["vaekit.models"]
    assert "vaekit.run.samplers" in graph["vaekit.run.folder"]  # one inside a function is seen
    cycles = []
    for start in graph:  # depth-first from each module, looking for a way back to it
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert not cycles, cycles[:3]


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a layer above the importer's own, as "module (layer) -> module (layer)"."""
    return [f"{m} ({LAYERS[layer(m)][0]}) -> {t} ({LAYERS[layer(t)][0]})"
            for m, targets in sorted(graph.items()) for t in sorted(targets)
            if t != "vaekit" and layer(t) > layer(m)]  # the root: imported before any module anyway


def test_no_module_imports_a_layer_above_its_own():
    assert not upward(imports()), upward(imports())
    # the check names an upward import, and the layers hold what a reader would look for there
    assert upward({"vaekit.settings.fields": {"vaekit.train.loop", "vaekit.errors"}}) == [
        "vaekit.settings.fields (settings) -> vaekit.train.loop (train)"]
    where = {"vaekit.settings.train": "settings", "vaekit.run.layout": "run", "vaekit.train.loop": "train",
             "vaekit.tasks.evaluation": "tasks", "vaekit.interop.sklearn": "interop", "vaekit.cli.commands": "cli"}
    assert {m: LAYERS[layer(m)][0] for m in where} == where
