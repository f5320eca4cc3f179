"""The rooms say what lives in them: who may import whom, and no import cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
SKIP = {".venv", "var", "build", "tests", "bench", "migrations"}
PURE = ("mail", "matching", "orders", "storage")  # plain logic any process imports, no Temporal


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in SKIP or any(p.startswith(".") for p in parts):
            continue
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every module an import names (`from a import b` names `a` and, if it is one, `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


GRAPH = {name: imports_of(path) for name, path in modules().items()}


def top(name: str) -> str:
    return name.split(".")[0]


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        module: {i for i in imported if top(i) in forbidden}
        for module, imported in GRAPH.items()
        if top(module) == package and any(top(i) in forbidden for i in imported)
    }


def test_the_api_reaches_no_activity() -> None:
    assert offenders("api", ("activities", "worker")) == {}


def test_activities_import_neither_workflows_nor_the_api() -> None:
    assert offenders("activities", ("workflows", "api", "temporal_client", "worker")) == {}


def test_pure_packages_have_no_temporal_and_no_upper_layer() -> None:
    upper = ("temporalio", "activities", "workflows", "api", "worker", "temporal_client")
    for package in PURE:
        assert offenders(package, upper) == {}, package


def test_models_are_the_bottom_layer() -> None:
    upper = ("activities", "workflows", "api", "worker", "temporal_client", *PURE)
    assert offenders("models", upper) == {}


def test_workflows_reach_activities_only_through_their_classes() -> None:
    for module, path in modules().items():
        if top(module) != "workflows":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("activities"):
                names = [alias.name for alias in node.names]
                assert all(n.endswith("Activities") for n in names), (module, names)


def test_no_import_cycle() -> None:
    first_party = set(GRAPH)
    edges = {m: {i for i in GRAPH[m] if i in first_party and i != m} for m in GRAPH}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for nxt in sorted(edges[module]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
