"""The project's modules import one another in one direction: down the layers, lowest first

    strategies -> oracles -> fuzz.judge -> fuzz.store -> fuzz.campaign -> fuzz.report -> fuzz (cli, pytest plugin)

and without a cycle, function-local imports included (a cycle hidden in a function still couples two modules both
ways). Every import says the installed name, convfuzz.<folder>: a bare `fuzz.` or `strategies.` would load a second
copy of a module in a checkout, and names nothing in an install."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("strategies", "oracles", "fuzz")
PACKAGES = ("convfuzz", *(f"convfuzz.{folder}" for folder in FOLDERS))
# Each layer may import its own and the ones before it, never one after it.
LAYERS = tuple(
    f"convfuzz.{layer}"
    for layer in ("strategies", "oracles", "fuzz.judge", "fuzz.store", "fuzz.campaign", "fuzz.report", "fuzz")
)


def module_name(path: Path) -> str:
    """The installed name of a module of the folders: fuzz/judge/bounds.py -> convfuzz.fuzz.judge.bounds."""
    parts = ("convfuzz", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bare_imports(source: str) -> list[str]:
    """The imports in `source` of a folder's module by its bare name (fuzz.cli rather than convfuzz.fuzz.cli)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [name for name in names if name.split(".")[0] in FOLDERS]


def project_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} & modules
            found |= {f"{node.module}.{alias.name}" for alias in node.names} & modules
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    modules = {module_name(p) for p in paths}
    # A package's __init__ re-exports: importing 'oracles' is importing what its __init__ imports, not a cycle.
    return {module_name(p): project_imports(p, modules) - {module_name(p)} for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_project_has_no_import_cycle() -> None:
    cycle = find_cycle({m: {i for i in imports if i not in PACKAGES} for m, imports in import_graph().items()})
    assert cycle is None, " -> ".join(cycle or [])


def test_every_import_of_the_project_says_convfuzz() -> None:
    sources = [p for top in (*FOLDERS, "convfuzz", "tests", "bench", "scripts") for p in (ROOT / top).rglob("*.py")]
    bare = {str(p.relative_to(ROOT)): found for p in sources if (found := bare_imports(p.read_text("utf-8")))}
    assert not bare, bare


def test_a_bare_import_is_seen() -> None:
    source = "import oracles.base\nfrom fuzz.cli import main\nfrom convfuzz.strategies import conv_cases\n"
    assert bare_imports("def f():\n    " + source.replace("\n", "\n    ")) == ["oracles.base", "fuzz.cli"]


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific layer `module` belongs to."""
    matching = [i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")]
    return max(matching, key=lambda i: len(LAYERS[i]))  # fuzz.store.folder is in fuzz.store, not in fuzz


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a later layer than its own, as 'importer -> imported'."""
    return [
        f"{module} ({LAYERS[layer_of(module)]}) -> {name} ({LAYERS[layer_of(name)]})"
        for module, imports in sorted(graph.items()) for name in sorted(imports)
        if name not in PACKAGES and layer_of(name) > layer_of(module)
    ]


def test_imports_run_down_the_layers() -> None:
    upward = upward_imports(import_graph())
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_an_upward_import() -> None:
    folder, engine = "convfuzz.fuzz.store.folder", "convfuzz.fuzz.campaign.engine"
    assert upward_imports({folder: {engine}, engine: {folder}}) == [
        f"{folder} (convfuzz.fuzz.store) -> {engine} (convfuzz.fuzz.campaign)"
    ]
    assert layer_of("convfuzz.fuzz.cli") == len(LAYERS) - 1 and layer_of("convfuzz.oracles.registry") == 1
