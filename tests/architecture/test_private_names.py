"""A name that starts with an underscore is private to its module: no other module imports
it. What two modules share is public, under a name that says what it is."""

import ast

from tests.architecture.test_import_graph import ROOT, source_files

# Shrinks, never grows (empty: keep it so).
ALLOWED: set[str] = set()


def private_imports() -> set[str]:
    found = set()
    for path in source_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.add(f"{path.relative_to(ROOT)} imports {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names():
    assert private_imports() - ALLOWED == set()


def test_the_allow_list_names_only_imports_that_still_exist():
    assert ALLOWED - private_imports() == set()
