"""The house's rules, read from the code's own imports, so a new module cannot quietly break them.

- one folder per domain under playground/, and the models each folder owns registered through
  playground/models.py alone;
- lib/ and upstream/ import no domain; no domain imports the worker (the worker is the one place
  that reaches into every domain);
- no two modules import each other, directly or round a circle;
- a module over 500 lines says at its top why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.servers import ROOT

APP = ROOT / "playground"
DOMAINS = {
    "generations",
    "worker",
    "upstream",
    "pictures",
    "gallery",
    "money",
    "notify",
    "films",
    "ops",
    "lib",
    "review",
}
# Where the worker may be named: the URL map (/healthz), the settings (its middleware), the models'
# registration and the management commands are the app's edges, not domains.
WORKER_USERS = (
    "playground.worker",
    "playground.management",
    "playground.urls",
    "playground.settings",
    "playground.models",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in APP.rglob("*.py") if "migrations" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every playground module `path` imports, at any depth of the file (a deferred import counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith("playground") and name in known:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def test_every_domain_is_a_folder_and_no_module_is_left_loose():
    loose = sorted(p.name for p in APP.glob("*.py"))
    assert loose == ["__init__.py", "admin.py", "apps.py", "models.py", "settings.py", "urls.py", "wsgi.py"]
    assert {p.name for p in APP.iterdir() if (p / "__init__.py").exists()} >= DOMAINS


def test_lib_and_upstream_import_no_domain(graph):
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if domain(module) in {"lib", "upstream"}
        for target in targets
        if domain(target) not in {None, "lib", "upstream"}
    }
    # lib is the ground floor: it does not even reach up to upstream.
    wrong |= {(m, t) for m, ts in graph.items() if domain(m) == "lib" for t in ts if domain(t) == "upstream"}
    assert wrong == set()


def test_no_domain_imports_the_worker(graph):
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if not module.startswith(WORKER_USERS)
        for target in targets
        if target.startswith("playground.worker")
    }
    assert wrong == set()


def test_playground_models_only_registers_the_folders_models():
    tree = ast.parse((APP / "models.py").read_text())
    body = [node for node in tree.body if not isinstance(node, ast.Expr)]  # the docstring
    assert body and all(isinstance(node, ast.ImportFrom) for node in body)


def test_no_import_circle(graph):
    # Tarjan's strongly connected components: any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []


def test_a_module_over_500_lines_says_why_at_its_top():
    unexplained = [
        str(path.relative_to(ROOT))
        for path in modules().values()
        if len(path.read_text().splitlines()) > 500
        and "500 lines" not in (ast.get_docstring(ast.parse(path.read_text())) or "")
    ]
    assert unexplained == []


def test_the_rules_catch_what_they_forbid():
    # A made-up graph with each fault, so the checks above are known to be able to fail.
    bad = {
        "playground.lib.x": {"playground.gallery.filters"},
        "playground.gallery.filters": {"playground.worker.loop", "playground.lib.x"},
    }
    assert domain("playground.lib.x") == "lib" and domain("playground.gallery.filters") == "gallery"
    with pytest.raises(AssertionError):
        test_lib_and_upstream_import_no_domain(bad)
    with pytest.raises(AssertionError):
        test_no_domain_imports_the_worker(bad)
    with pytest.raises(AssertionError):
        test_no_import_circle(bad)
