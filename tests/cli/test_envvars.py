"""Every environment variable name the CLI reads is written in pgqueuer_cli/envvars.py only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pgqueuer_cli
from pgqueuer_cli import envvars

SRC = Path(pgqueuer_cli.__file__).parent
ENV_NAME = re.compile(r"PG[A-Z0-9_]*")


def env_names_written(source: str) -> list[tuple[int, str]]:
    """(line, text) of string literals that are environment variable names."""
    known = {v for k, v in vars(envvars).items() if k.isupper() and isinstance(v, str)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (ENV_NAME.fullmatch(node.value) or node.value in known)
    ]


def test_the_scan_finds_a_name_written_inline() -> None:
    source = 'import os\nos.environ.get("PGQUEUER_PREFIX")\nx = os.getenv("TABLEFMT")\n'
    assert env_names_written(source) == [(2, "PGQUEUER_PREFIX"), (3, "TABLEFMT")]


def test_no_cli_module_but_envvars_writes_an_env_var_name() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "envvars.py"
        for line, text in env_names_written(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use pgqueuer_cli.envvars instead:\n" + "\n".join(found)


def test_names_the_library_reads_are_the_library_constants() -> None:
    from pgqueuer.backends.sql_schema import DURABILITY_ENV
    from pgqueuer.connection import DSN_ENV
    from pgqueuer.names import PREFIX_ENV, SCHEMA_ENV

    assert (envvars.LIBRARY_DSN, envvars.PGDSN) == DSN_ENV
    assert (envvars.PREFIX, envvars.SCHEMA, envvars.DURABILITY) == (
        PREFIX_ENV,
        SCHEMA_ENV,
        DURABILITY_ENV,
    )


def test_no_dashboard_module_but_its_envvars_writes_an_env_var_name() -> None:
    import pgqueuer_dashboard
    from pgqueuer_dashboard import envvars as dashboard_envvars

    root = Path(pgqueuer_dashboard.__file__).parent
    found = [
        f"{path.relative_to(root)}:{line}: {text!r}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "envvars.py"
        for line, text in env_names_written(path.read_text(encoding="utf-8"))
        if text.startswith("PG")
    ]
    assert found == [], "use pgqueuer_dashboard.envvars instead:\n" + "\n".join(found)
    assert (envvars.WEB_HOST, envvars.WEB_PORT) == (
        dashboard_envvars.WEB_HOST,
        dashboard_envvars.WEB_PORT,
    )
