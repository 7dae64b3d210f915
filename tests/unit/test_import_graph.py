"""The package arrows of DESIGN.md, checked on the source (ast, nothing imported):

    api -> services -> ports <- serving / training

- services/ import no fastapi, no ray, and none of api / serving / training;
- training/ and serving/ import no services and no api: they reach the domain through raysight.ports.
  The exception is the composition root (raysight.runtime, and the Serve application's serving/app.py
  and serving/ingress.py, which host the API): it hands the domain's implementations of the ports to
  the Ray side; no other module of a layer imports raysight.runtime;
- the base modules (store, workspace, errors, settings, ids, and the plain helpers services share
  with the Ray side) import none of api / services / serving / training, no ray and no fastapi;
- no import cycles between packages;
- plugins/* import from raysight only its public plugin API (raysight.plugin).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "platform" / "raysight"
PLUGINS = ROOT / "plugins"
LAYERS = ("api", "services", "serving", "training")
# modules every layer may use: they import none of the layers, no Ray and no FastAPI (services use them)
BASE = ("store", "workspace", "errors", "settings", "ids", "context", "defaults", "imaging", "joblog",
        "train_storage", "import_roots")
COMPOSITION_ROOTS = {"raysight.serving.app", "raysight.serving.ingress"}
PLUGIN_API = "raysight.plugin"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module `path` imports (absolute names; relative imports resolved), at any depth of the
    file (an import hidden in a function counts) except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def core_modules() -> dict[str, list[str]]:
    return {module_name(p): sorted(set(imports_of(p))) for p in sorted(CORE.rglob("*.py"))}


def layer_of(module: str) -> str | None:
    """The package of a raysight module (api, services, ..., or a base module's name)."""
    parts = module.split(".")
    if parts[0] != "raysight" or len(parts) < 2:
        return None
    return parts[1]


def violations(graph: dict[str, list[str]]) -> list[str]:
    found: list[str] = []
    for module, imported in graph.items():
        layer = layer_of(module)
        for name in imported:
            target = layer_of(name)
            top = name.split(".")[0]
            if layer == "services":
                if top in ("fastapi", "starlette", "ray"):
                    found.append(f"{module} imports {name} (services import no fastapi and no ray)")
                if target in ("api", "serving", "training"):
                    found.append(f"{module} imports {name} (services depend on ports, not on {target})")
            if layer in ("serving", "training") and module not in COMPOSITION_ROOTS and target in ("services", "api"):
                found.append(f"{module} imports {name} ({layer} reaches the domain through raysight.ports)")
            if layer in LAYERS and target == "runtime" and module not in COMPOSITION_ROOTS:
                found.append(f"{module} imports {name} (only the composition roots wire the ports)")
            if layer in BASE and (target in (*LAYERS, "runtime") or top in ("ray", "fastapi", "starlette")):
                found.append(f"{module} imports {name} (base modules import no {target or top})")
            if layer == "ports" and target in LAYERS:
                found.append(f"{module} imports {name} (the ports depend on nothing above them)")
            if layer == "api" and target in ("serving", "training"):
                found.append(f"{module} imports {name} (api reaches Ray only through services and ports)")
    return found


def package_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Cycles between the layers (edges from composition roots left out: they sit above everything)."""
    edges: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module in COMPOSITION_ROOTS:
            continue
        src = layer_of(module)
        if src not in LAYERS + ("ports",):
            continue
        for name in imported:
            dst = layer_of(name)
            if dst in LAYERS + ("ports",) and dst != src:
                edges.setdefault(src, set()).add(dst)
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path:
                walk(nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, [start])
    return cycles


def module_cycles(graph: dict[str, list[str]], package: str) -> list[list[str]]:
    """Cycles between the modules of one package (e.g. services.inference <-> services.models)."""
    inside = {m: {n for n in imported if n in graph and n.startswith(package + ".") and n != m}
              for m, imported in graph.items() if m.startswith(package + ".")}
    cycles: list[list[str]] = []
    for start in sorted(inside):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(inside.get(node, ())):
                if nxt == start:
                    cycles.append([*path, nxt])
                elif nxt not in path and nxt > start:
                    stack.append((nxt, [*path, nxt]))
    return cycles


def test_layers_keep_their_arrows() -> None:
    assert violations(core_modules()) == []


def test_no_cycles_between_packages() -> None:
    assert package_cycles(core_modules()) == []


@pytest.mark.parametrize("package", ["raysight.services", "raysight.serving", "raysight.training"])
def test_no_cycles_between_modules(package: str) -> None:
    assert module_cycles(core_modules(), package) == []


def test_the_checks_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The rules fire on a graph with the imports they forbid (so a green run means something)."""
    graph = {
        "raysight.services.x": ["ray", "raysight.training.supervisor"],
        "raysight.training.supervisor": ["raysight.services.training"],
        "raysight.serving.model_deployment": ["raysight.services.models"],
        "raysight.store.db": ["raysight.api.app"],
        "raysight.serving.app": ["raysight.services.models", "raysight.runtime"],  # a composition root may
        "raysight.services.y": ["raysight.runtime"],
    }
    found = violations(graph)
    assert len(found) == 6, found
    assert package_cycles(graph) == [["services", "training", "services"], ["training", "services", "training"]]
    assert module_cycles({"raysight.services.a": ["raysight.services.b"],
                          "raysight.services.b": ["raysight.services.a"]}, "raysight.services")


def test_plugins_import_only_the_plugin_api() -> None:
    assert (CORE / "plugin.py").is_file()
    found = []
    for path in sorted(PLUGINS.rglob("*.py")):
        for name in imports_of_plugin(path):
            if name.split(".")[0] == "raysight" and name != PLUGIN_API and not name.startswith(PLUGIN_API + "."):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert found == []


def imports_of_plugin(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module
