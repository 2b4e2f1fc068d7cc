"""Hand-written SQL lives in each app's `sql` module, one named statement after another:
no `connection.cursor()` (or `chunked_cursor()`) anywhere else."""

import ast

from tests.architecture.test_import_graph import ROOT, source_files


def modules_opening_cursors() -> set[str]:
    found = set()
    for path in source_files():
        if path.stem == "sql" or path.parent.name == "sql":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"cursor", "chunked_cursor"}
            ):
                found.add(str(path.relative_to(ROOT)))
    return found


def test_no_cursor_is_opened_outside_the_sql_modules():
    assert modules_opening_cursors() == set()
