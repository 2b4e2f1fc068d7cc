"""The import graph, read from the source with `ast`: apps depend one way, as the apps table
of the design says, and no module of an app imports itself back through others."""

import ast
from collections import defaultdict
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)

# The apps table: which apps each app may import.
DOMAIN: dict[str, set[str]] = {
    "contacts": set(),
    "whatsapp": set(),
    "consent": {"contacts", "whatsapp"},
    # The consent conversation on WhatsApp: keywords, the one-tap opt-in, pending requests.
    "conversation": {"consent", "contacts", "whatsapp"},
    # The import and export pipeline: files, checks, jobs, rejected rows, exports.
    "imports": {"consent", "contacts"},
    "groups": {"contacts", "consent", "conversation", "whatsapp"},
    "campaigns": {"contacts", "consent", "conversation", "whatsapp"},
    "preferences": {"consent", "contacts", "conversation", "groups"},
    # Tells integrations what changed: it listens to these apps, and no app imports it
    # (conversation: the link to a person's own copy goes out on WhatsApp through it).
    "integrations": {"contacts", "consent", "conversation", "campaigns", "groups"},
    # The admin console reads every app (its dashboard) and is imported by none.
    "console": {
        "campaigns",
        "consent",
        "contacts",
        "conversation",
        "groups",
        "imports",
        "whatsapp",
    },
}
# Infrastructure any app may import; it imports no domain app.
INFRASTRUCTURE: dict[str, set[str]] = {
    "config": set(),
    # What every app shares: storable input, the read-only admin, progress bars.
    "core": set(),
    "staff": {"config", "core"},
    "api": {"config", "core", "staff"},
}
ALLOWED = {
    **{app: deps | set(INFRASTRUCTURE) for app, deps in DOMAIN.items()},
    **INFRASTRUCTURE,
}
APPS = set(ALLOWED)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


KNOWN = {module_name(path) for path in source_files()}


def imported_modules(path: Path) -> list[tuple[str, int, bool]]:
    """(absolute module, line, inside a function) for each import of `path`."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    nested = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # `from x import y` imports module x.y where there is one, else a name of x.
            submodules = [f"{origin}.{alias.name}" for alias in node.names]
            names = [m for m in submodules if m in KNOWN] or [origin]
        else:
            continue
        found.extend((name, node.lineno, id(node) in nested) for name in names)
    return found


def test_apps_import_only_what_the_apps_table_allows():
    forbidden = []
    for path in source_files():
        app = module_name(path).split(".")[0]
        for name, line, _ in imported_modules(path):
            target = name.split(".")[0]
            if target in APPS and target != app and target not in ALLOWED[app]:
                forbidden.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert forbidden == []


def test_the_graph_of_apps_has_no_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in source_files():
        app = module_name(path).split(".")[0]
        for name, _, _ in imported_modules(path):
            target = name.split(".")[0]
            if target in APPS and target != app:
                graph[app].add(target)
    assert cycles(graph) == []


def test_no_module_imports_itself_back_within_its_app():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in source_files():
        module = module_name(path)
        for name, _, _ in imported_modules(path):
            if name in KNOWN and name != module and name.split(".")[0] == module.split(".")[0]:
                graph[module].add(name)
    assert cycles(graph) == []


def test_imports_are_delayed_only_where_django_requires_it():
    # An AppConfig.ready() imports the modules that register handlers, receivers and tasks.
    delayed = []
    for path in source_files():
        for name, line, inside_function in imported_modules(path):
            if inside_function and name in KNOWN and path.name != "apps.py":
                delayed.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert delayed == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
