"""The code's layers stay true: every import (module level or inside a function) points down or sideways, never in
a loop; the add-on is the only Blender code and the backend never imports it; no module is over 500 lines.

Backend layers, bottom to top (docs/architecture.md): utils < motion < model < pipeline < data < evaluation <
train < cli. The add-on (moscale_blender) sits on the pipeline: it may import utils, motion, model and pipeline."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKEND, ADDON = ROOT / "backend", ROOT / "moscale_blender"
LAYERS = ("utils", "motion", "model", "pipeline", "data", "evaluation", "train", "cli")
ADDON_MAY_IMPORT = {"utils", "motion", "model", "pipeline"}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(BACKEND if path.is_relative_to(BACKEND) else ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    files = list((BACKEND / "moscale").rglob("*.py")) + list(ADDON.rglob("*.py"))
    return {module_name(path): path for path in files if "__pycache__" not in path.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports: `from package import module` counts as the module itself."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "moscale" and len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return None


def test_no_import_loops(graph):
    loops, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                loops.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not loops, "import loops:\n" + "\n".join(loops)


def test_backend_imports_only_down(graph):
    upward = [f"{module} -> {target}" for module, targets in graph.items() if layer(module) is not None
              for target in targets if layer(target) is not None and layer(target) > layer(module)]
    assert not upward, "imports that climb a layer:\n" + "\n".join(upward)
    assert graph["moscale"] == set(), "the package root imports nothing"


def test_addon_sits_on_the_pipeline_and_backend_never_imports_it(graph):
    addon = {module: targets for module, targets in graph.items() if module.startswith("moscale_blender")}
    assert addon, "the add-on was not found"
    wrong = [f"{module} -> {target}" for module, targets in addon.items() for target in targets
             if target.startswith("moscale.") and target.split(".")[1] not in ADDON_MAY_IMPORT]
    assert not wrong, "the add-on reaches above the pipeline:\n" + "\n".join(wrong)
    jobs = graph["moscale_blender.jobs"]
    assert not {t for t in jobs if t.startswith("moscale_blender")}, "jobs is the add-on's lowest module"
    assert "import bpy" not in (ADDON / "jobs.py").read_text(), "jobs runs off the main thread: no bpy"
    backend = [path for path in (BACKEND / "moscale").rglob("*.py")]
    # The command line, above both, reaches the add-on's headless writer in one place (by name, after enabling it).
    naming = [p.relative_to(ROOT) for p in backend if "moscale_blender" in p.read_text() and p.name != "scene.py"]
    assert not naming, f"backend modules that name the add-on: {naming}"
    bpy_users = [p.relative_to(ROOT) for p in backend
                 if {"bpy", "addon_utils", "mathutils"} & {a.name for n in ast.walk(ast.parse(p.read_text()))
                                                            if isinstance(n, ast.Import) for a in n.names}
                 and p.name != "scene.py"]
    assert not bpy_users, f"backend modules that import Blender: {bpy_users}"


def test_no_module_over_500_lines():
    long = {str(path.relative_to(ROOT)): count for path in modules().values()
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_check_sees_a_loop_and_an_upward_import(tmp_path):
    """The graph reader itself: a function-level import counts, and `from package import module` is the module."""
    (tmp_path / "a.py").write_text("def f():\n    from moscale.model import transformer\n")
    known = {"moscale.model.transformer", "moscale.model"}
    assert imports_of("moscale.motion.a", tmp_path / "a.py", known) == {"moscale.model.transformer"}
    assert layer("moscale.model.transformer") > layer("moscale.motion.a")
