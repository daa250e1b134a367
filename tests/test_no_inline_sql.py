"""SQL lives in the named ``.sql`` blocks: no Python module of the packages writes a statement.

Scans every ``packages/*/src/**/*.py`` for string literals (plain or the first part of an
f-string, docstrings excepted) that start with an upper-case SQL statement keyword. Statements the schema
package builds from its declaration are templates in ``pgqueuer_schema/sql/*.sql`` too, filled
in by ``render.template``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATEMENT = re.compile(
    r"\s*(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|LOCK|TRUNCATE)\s"
    r"|\s*WITH\s+\w+\s+AS\s*\(",
)

# Modules allowed to write a statement, each with why. Empty since the driver seam (issue 17)
# moved the drivers' statements into pgqueuer/sql/driver.sql; keep it that way.
ALLOWED: set[str] = set()


def inline_statements(source: str) -> list[tuple[int, str]]:
    """(line, start of the literal) of each string literal that starts a SQL statement."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # docstrings and other bare strings
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)  # judged as the whole f-string
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                text = first.value
        if text is not None and STATEMENT.match(text):
            found.append((node.lineno, text.strip()[:60]))
    return found


def test_the_scan_finds_plain_and_f_string_statements() -> None:
    source = (
        '"""SELECT in a docstring is prose."""\n'
        'a = "SELECT 1"\n'
        'b = f"  UPDATE {t} SET x = 1"\n'
        'c = f"{alter} DROP DEFAULT"\n'  # a fragment: its statement starts elsewhere
        'd = "WITH ranked AS (SELECT 1) SELECT 1"\n'
        'e = "Selected jobs; drop a line"\n'
    )
    assert [line for line, _ in inline_statements(source)] == [2, 3, 5]


def test_no_module_outside_the_allow_list_writes_sql() -> None:
    found = []
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED:
            continue
        found.extend(
            f"{rel}:{line}: {text!r}"
            for line, text in inline_statements(path.read_text(encoding="utf-8"))
        )
    assert found == [], "move these into a named .sql block:\n" + "\n".join(found)


def test_the_allow_list_names_existing_modules() -> None:
    assert all((ROOT / rel).is_file() for rel in ALLOWED)
