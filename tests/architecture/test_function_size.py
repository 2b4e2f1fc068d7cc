"""Functions read in one screen: none over 60 lines outside migrations and tests."""

import ast

from tests.architecture.test_import_graph import ROOT, source_files

LIMIT = 60


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
    assert function_lengths() == {}
