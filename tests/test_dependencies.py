"""Every package the portal imports at run time is one of its runtime dependencies ([project].dependencies in
pyproject.toml), not only a development one or something another package happens to pull in: a production
install (`pip install .`) must be able to render an invoice PDF (pypdf merges a long one's parts) and run every
command. Imports are read from the source of portal/, invoices/ and wsgi.py, inside functions too."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = {"portal", "invoices", "wsgi"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {_normalized(re.match(r"[A-Za-z0-9._-]+", spec).group()) for spec in specs}


def imported_at_run_time() -> dict[str, set[str]]:
    """Top-level names of third-party modules imported by the portal's code -> the files importing them."""
    found: dict[str, set[str]] = {}
    sources = [*ROOT.joinpath("portal").rglob("*.py"), *ROOT.joinpath("invoices").rglob("*.py"), ROOT / "wsgi.py"]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in OWN and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_imported_at_run_time_is_a_runtime_dependency():
    distributions = packages_distributions()
    runtime = declared()
    missing = {}
    for module, files in sorted(imported_at_run_time().items()):
        provided_by = {_normalized(d) for d in distributions.get(module, [])}
        assert provided_by, f"{module} (imported by {sorted(files)}) is not installed"
        if not provided_by & runtime:
            missing[module] = (sorted(provided_by), sorted(files))
    assert missing == {}, "add these to [project].dependencies in pyproject.toml: " + "; ".join(
        f"{'/'.join(dists)} (import {module} in {', '.join(files)})" for module, (dists, files) in missing.items())


def test_pypdf_is_a_runtime_dependency_not_only_a_development_one():
    assert "pypdf" in declared()
    assert "pypdf" not in declared("dev")  # one place states it
