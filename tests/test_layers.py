"""The rooms say what lives in them: who may import whom (directly and through others), no import
cycle, and no function too long to read at once."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SKIP = {".venv", "var", "build", "tests", "bench", "migrations"}
CHECKED = {".venv", "var", "build", "migrations"}  # every other module: length and bench rules
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


def reachable(start: str) -> set[str]:
    """Every first-party module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        for imported in GRAPH.get(module, set()):
            if imported in GRAPH and imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def test_the_api_reaches_no_activity() -> None:
    assert offenders("api", ("activities", "worker")) == {}


def test_the_api_and_the_cli_load_no_activity_and_no_workflow_even_indirectly() -> None:
    """They start, query and signal runs through the run contract (models/run_contract.py). The
    CLI's `mcs worker` and `mcs dev` load the worker when they run, so the CLI is checked by what
    importing it loads."""
    roots = [m for m in GRAPH if top(m) == "api"] + ["temporal_client"]
    for root in roots:
        loaded = {m for m in reachable(root) if top(m) in ("activities", "workflows", "worker")}
        assert loaded == set(), root
    script = (
        "import sys, api.main, starter, temporal_client; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('activities', 'workflows', 'worker', 'langchain_core')))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"


def test_activities_import_neither_workflows_nor_the_api() -> None:
    assert offenders("activities", ("workflows", "api", "temporal_client", "worker")) == {}


def test_pure_packages_have_no_temporal_and_no_upper_layer() -> None:
    upper = ("temporalio", "activities", "workflows", "api", "worker", "temporal_client")
    for package in PURE:
        assert offenders(package, upper) == {}, package


def test_models_are_the_bottom_layer() -> None:
    upper = ("activities", "workflows", "api", "worker", "temporal_client", "telemetry", *PURE)
    assert offenders("models", upper) == {}
    assert {m for m in reachable("models.db") if top(m) != "models"} == set()


def every_file() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not set(path.relative_to(ROOT).parts) & CHECKED
        and not any(p.startswith(".") for p in path.relative_to(ROOT).parts)
    ]


def test_benches_use_nothing_from_the_tests() -> None:
    for path in ROOT.glob("bench/*.py"):
        assert not {i for i in imports_of(path) if top(i) == "tests"}, path.name


def test_no_function_is_longer_than_50_lines() -> None:
    long = []
    for path in every_file():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 50:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_no_api_module_is_longer_than_250_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): length
        for path in ROOT.glob("api/**/*.py")
        if (length := len(path.read_text(encoding="utf-8").splitlines())) > 250
    }
    assert long == {}


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
