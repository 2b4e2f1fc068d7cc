"""Functions read in one screen: none over 60 lines outside migrations and tests.

The ones still longer are listed with their length today; the list only shrinks, and a
listed function may only get shorter.
"""

import ast

from tests.architecture.test_import_graph import ROOT, source_files

LIMIT = 60
LONGER: dict[str, int] = {
    # The import pipeline (the imports app).
    "imports/columns.py:parse_row": 87,
    "imports/planning.py:plan_line": 69,
    "imports/setbased.py:write": 104,
    "imports/workbook.py:rows": 78,
}


def function_lengths() -> dict[str, int]:
    found = {}
    for path in source_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT:
                    found[f"{path.relative_to(ROOT)}:{node.name}"] = length
    return found


def test_no_function_is_longer_than_sixty_lines():
    grown = {
        name: length
        for name, length in function_lengths().items()
        if length > LONGER.get(name, LIMIT)
    }
    assert grown == {}


def test_the_list_of_longer_functions_only_shrinks():
    assert set(LONGER) - set(function_lengths()) == set()
