"""Every package the application imports is declared in pyproject.toml and pinned in the
runtime lock, which holds no test tool (production installs only that lock)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = [
    *("api", "campaigns", "config", "consent", "contacts", "conversation", "core"),
    *("groups", "imports", "preferences", "staff", "whatsapp"),
]
TEST_TOOLS = {
    *("pytest", "pytest-django", "pytest-xdist", "factory-boy"),
    *("hypothesis", "schemathesis", "playwright"),
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    return normalized(re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0])


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: read by the type checker, never imported at run time."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }


def imported_distributions() -> dict[str, str]:
    """distribution → one file importing it, for the application's third-party imports."""
    owners = packages_distributions()
    found: dict[str, str] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            tree = ast.parse(path.read_text())
            skipped = _type_checking_only(tree)
            for node in ast.walk(tree):
                if id(node) in skipped:
                    continue
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in APPS:
                        continue
                    for distribution in owners.get(top, [top]):
                        found.setdefault(normalized(distribution), str(path.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {requirement_name(line) for line in project["dependencies"]}


def runtime_lock() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {requirement_name(line) for line in lines if line and not line.startswith(("#", "-"))}


def test_every_imported_package_is_declared_and_pinned_for_production():
    imported = imported_distributions()
    undeclared = {d: f for d, f in imported.items() if d not in declared()}
    unpinned = {d: f for d, f in imported.items() if d not in runtime_lock()}

    assert undeclared == {}
    assert unpinned == {}


def test_the_runtime_lock_holds_no_test_tool_and_the_dev_lock_builds_on_it():
    dev = (ROOT / "requirements-dev.lock").read_text().splitlines()

    assert runtime_lock() & TEST_TOOLS == set()
    assert dev[0] == "-r requirements.lock"
    assert {requirement_name(line) for line in dev[1:] if line} >= TEST_TOOLS
