"""No two packages of the portal import each other, not even through an import hidden inside a function.

Such a cycle once sat between the cart and Modify a License (portal/cart/services.py imported
portal/licenses/modify.py inside `cart_lines`, which imported the cart at the top): a module that only works
because the other one happened to be imported first. This test reads the source (imports at any depth, but not
those under `if TYPE_CHECKING:`, which never run) and fails naming the modules of any cycle that crosses a package
boundary. Within one package, a blueprint's route modules may import its `bp` from views.py, which imports them
back to register the routes; that is the only kind of cycle allowed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("portal", "invoices")


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the portal's packages by dotted name (a package by its own name)."""
    modules = {}
    for top in TOP_PACKAGES:
        for path in (root / top).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _runs(node: ast.AST) -> bool:
    """False for `if TYPE_CHECKING:` blocks (their imports are for type checkers only)."""
    return not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The portal modules `path` imports, at the top or inside functions."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if not _runs(child):
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                for alias in child.names:  # `from portal import pricing` imports the module portal.pricing
                    submodule = f"{child.module}.{alias.name}"
                    found.add(submodule if submodule in modules else child.module)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            pending.append(child)
    return {name for name in found if name in modules}


def package_of(module: str) -> str:
    """portal.cart.services -> portal.cart; portal.pricing -> portal.pricing."""
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so a deep import chain cannot hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def cross_package_cycles(root: Path) -> list[list[str]]:
    modules = module_names(root)
    graph = {name: imported_modules(path, modules) - {name} for name, path in modules.items()}
    return [c for c in cycles(graph) if len({package_of(m) for m in c}) > 1]


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    (tmp_path / "portal" / "cart").mkdir(parents=True)
    (tmp_path / "portal" / "licenses").mkdir()
    (tmp_path / "invoices").mkdir()
    for package in ("portal", "portal/cart", "portal/licenses", "invoices"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "portal/cart/services.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from portal.licenses.views import bp\n"
        "def lines():\n    from portal.licenses.modify import price\n    return price\n")
    (tmp_path / "portal/licenses/modify.py").write_text("from portal.cart import services\n")
    (tmp_path / "portal/licenses/views.py").write_text("from portal.cart.services import lines\n")

    assert cross_package_cycles(tmp_path) == [["portal.cart.services", "portal.licenses.modify"]]


def test_no_two_packages_of_the_portal_import_each_other():
    found = cross_package_cycles(ROOT)
    assert found == [], "import cycles across packages (move the shared piece to where it belongs):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found)
