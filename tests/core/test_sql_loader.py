"""Unit tests of pgqueuer.sql: named SQL blocks."""

from __future__ import annotations

import pytest

from pgqueuer.names import Names
from pgqueuer.sql import load_blocks, parse_blocks

TWO_BLOCKS = """\
-- A file header that belongs to no block.

-- name: first_block
-- What the first block does.
-- $1 text  an argument
SELECT 1
FROM t
WHERE a = $1;

--  name:second_block
-- Second purpose.
SELECT 2;
"""

INSPECT_BLOCKS = {
    "current_schema",
    "inspect_tables",
    "inspect_columns",
    "inspect_indexes",
    "inspect_constraints",
    "inspect_sequences",
    "inspect_types",
    "inspect_function",
    "inspect_triggers",
    "inspect_schema",
}


def test_parse_blocks_splits_named_blocks() -> None:
    blocks = parse_blocks(TWO_BLOCKS)
    assert list(blocks) == ["first_block", "second_block"]
    assert blocks["first_block"] == (
        "-- What the first block does.\n-- $1 text  an argument\nSELECT 1\nFROM t\nWHERE a = $1;\n"
    )
    assert blocks["second_block"] == "-- Second purpose.\nSELECT 2;\n"


def test_parse_blocks_ignores_text_before_the_first_name() -> None:
    blocks = parse_blocks(TWO_BLOCKS)
    assert all("file header" not in sql for sql in blocks.values())


def test_parse_blocks_keeps_leading_comment_lines() -> None:
    sql = parse_blocks("-- name: q\n-- purpose\n-- $1 uuid  the id\nSELECT $1;\n")["q"]
    assert sql.startswith("-- purpose\n-- $1 uuid  the id\n")
    assert "-- name" not in sql


@pytest.mark.parametrize("text", ["", "SELECT 1;\n", "-- just a comment\n"])
def test_parse_blocks_without_names_is_empty(text: str) -> None:
    assert parse_blocks(text) == {}


def test_parse_blocks_rejects_duplicate_names() -> None:
    text = "-- name: same\nSELECT 1;\n-- name: other\nSELECT 2;\n-- name: same\nSELECT 3;\n"
    with pytest.raises(ValueError, match="'same'"):
        parse_blocks(text)


def test_parse_blocks_name_must_start_the_line() -> None:
    blocks = parse_blocks("-- name: a\nSELECT 1; -- name: b\n")
    assert list(blocks) == ["a"]
    assert "-- name: b" in blocks["a"]


def test_load_blocks_inspect_sql() -> None:
    blocks = load_blocks("pgqueuer_schema.sql", "inspect.sql")
    assert set(blocks) == INSPECT_BLOCKS
    for name, sql in blocks.items():
        assert sql.startswith("-- "), name  # the purpose comment is kept
        assert "SELECT" in sql, name
        assert sql.endswith("\n"), name
        assert "-- name:" not in sql, name
    assert "$1 text[]" in blocks["inspect_tables"]


def test_load_blocks_is_cached() -> None:
    first = load_blocks("pgqueuer_schema.sql", "inspect.sql")
    assert load_blocks("pgqueuer_schema.sql", "inspect.sql") is first


def test_load_blocks_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_blocks("pgqueuer_schema.sql", "no_such_file.sql")


def test_notify_function_block_substitutes_the_channel() -> None:
    body = load_blocks("pgqueuer_schema.sql", "notify_function.sql")["notify_function_body"]
    assert "/*@channel*/'ch_pgqueuer'" in body
    out = Names.create(prefix="p_").substitute(body)
    assert "/*@" not in out
    assert "pg_notify('p_ch_pgqueuer', payload)" in out
