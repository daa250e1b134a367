"""Declaration -> SQL text: install, uninstall, single objects, durability and autovacuum."""

from __future__ import annotations

from dataclasses import replace

from pgqueuer.names import Names, quote_ident, quote_literal
from pgqueuer.sql import load_blocks
from pgqueuer.types import Durability
from pgqueuer_schema import __version__
from pgqueuer_schema.declaration import PERSISTENCE, Index, Table, Trigger, declare

# Autovacuum settings for a high-churn queue (rows live seconds) and for append-mostly history.
AUTOVAC_CHURN = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_analyze_threshold": "500",
    "autovacuum_vacuum_cost_limit": "10000",
    "autovacuum_vacuum_cost_delay": "0",
    "fillfactor": "70",
}
AUTOVAC_HISTORY = {
    "autovacuum_vacuum_scale_factor": "0.95",
    "autovacuum_vacuum_threshold": "1000000",
    "autovacuum_analyze_scale_factor": "0.05",
    "autovacuum_analyze_threshold": "10000",
}
AUTOVAC_TABLES = {
    "queue_table": AUTOVAC_CHURN,
    "schedules_table": AUTOVAC_CHURN,
    "queue_table_log": AUTOVAC_HISTORY,
    "statistics_table": AUTOVAC_HISTORY,
}


def template(block: str, file: str = "ddl.sql", /, **values: str) -> str:
    """``block`` of ``sql/{file}`` without its comment lines, its ``{placeholders}`` filled
    (every value already quoted or rendered), without a final newline."""
    lines = load_blocks("pgqueuer_schema.sql", file)[block].splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "\n".join(lines).format(**values).rstrip()


def header(names: Names, what: str, **extra: str) -> str:
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    return (
        f"-- pgqueuer {__version__} {what} -- prefix={names.prefix!r} "
        f"schema={names.schema or '(search_path)'}{' ' + details if details else ''}\n"
    )


def enum_sql(names: Names, labels: tuple[str, ...]) -> str:
    values = ", ".join(quote_literal(label) for label in labels)
    return template("create_type", type=names.qualify(names.queue_status_type), labels=values)


def table_sql(names: Names, table: Table, logged: bool, *, if_not_exists: bool = False) -> str:
    cols = []
    for col in table.columns:
        if col.name == "id" and table.serial:
            cols.append("id bigserial NOT NULL")  # creates and owns {table}_id_seq
        else:
            status = names.bare(names.queue_status_type)
            qualified = replace(
                col,
                type=names.qualify(names.queue_status_type) if col.type == status else col.type,
                default=qualified_tail(names, col.default) if col.default else None,
            )
            cols.append(qualified.ddl())
    pkey = quote_ident(names.derived(table.name, "_pkey"))
    cols.append(f"CONSTRAINT {pkey} PRIMARY KEY ({table.key})")
    for name, columns in table.unique:
        cols.append(f"CONSTRAINT {quote_ident(name)} UNIQUE ({', '.join(columns)})")
    return template(
        "create_table",
        kind="TABLE" if logged else "UNLOGGED TABLE",
        guard="IF NOT EXISTS " if if_not_exists else "",
        table=names.qualify(table.name),
        body=",\n    ".join(cols),
    )


def qualified_tail(names: Names, tail: str) -> str:
    """Index/trigger tails name the enum type bare; qualify it for creation."""
    status = names.bare(names.queue_status_type)
    return tail.replace(f"::{status}", f"::{names.qualify(names.queue_status_type)}")


def index_sql(names: Names, index: Index, *, name: str | None = None, guard: bool = False) -> str:
    return template(
        "create_index",
        unique="UNIQUE " if index.unique else "",
        guard="IF NOT EXISTS " if guard else "",
        name=quote_ident(name or index.name),
        table=names.qualify(getattr(names, index.table)),
        tail=qualified_tail(names, index.tail),
    )


def function_sql(names: Names) -> str:
    body = names.substitute(
        load_blocks("pgqueuer_schema.sql", "notify_function.sql")["notify_function_body"]
    )
    return template("create_function", function=names.qualify(names.function), body=body)


def function_body(names: Names) -> str:
    """The PL/pgSQL source as the catalog stores it (prosrc)."""
    sql = function_sql(names)
    return sql.split("$pgqueuer$")[1]


def trigger_sql(names: Names, trigger: Trigger) -> str:
    timing = trigger.timing_events.format(table=names.qualify(names.queue_table))
    timing = qualified_tail(names, timing)
    fn = trigger.body.replace(
        f"FUNCTION {names.bare(names.function)}()", f"FUNCTION {names.qualify(names.function)}()"
    )
    return template("create_trigger", name=quote_ident(trigger.name), timing=timing, body=fn)


def install_sql(
    names: Names,
    durability: Durability | str = Durability.durable,
    *,
    create_schema: bool = True,
) -> str:
    """The whole install as one script (one implicit transaction when sent as one string)."""
    level = Durability.parse(durability)
    decl = declare(names)
    out = [header(names, "install", durability=level.value)]
    if create_schema:
        for schema in schemas_of(names):
            out.append(template("create_schema", "upgrade.sql", schema=quote_ident(schema)))
    out.append(enum_sql(names, decl.enum_labels))
    for table in decl.tables:
        out.append(table_sql(names, table, PERSISTENCE[level][table.field]))
    out.extend(index_sql(names, index) for index in decl.indexes)
    out.append(function_sql(names))
    out.extend(trigger_sql(names, t) for t in decl.triggers)
    return "\n".join(out) + "\n"


def schemas_of(names: Names) -> list[str]:
    """Every schema an installation names explicitly (configured or dotted names)."""
    found: list[str] = []
    for field in (
        "queue_table",
        "queue_table_log",
        "statistics_table",
        "schedules_table",
        "workers_table",
        "queue_status_type",
        "function",
    ):
        schema = names.schema_of(getattr(names, field))
        if schema and schema not in found:
            found.append(schema)
    return found


def uninstall_sql(names: Names) -> str:
    """Drop exactly what install creates (and the retired enum of old releases); no CASCADE."""
    queue = names.qualify(names.queue_table)
    out = [header(names, "uninstall")]
    out.extend(
        template("drop_trigger", "upgrade.sql", trigger=quote_ident(t), table=queue)
        for t in names.trigger_names
    )
    out.append(template("drop_function", function=names.qualify(names.function)))
    for field in (
        "queue_table",
        "queue_table_log",
        "statistics_table",
        "schedules_table",
        "workers_table",
    ):
        out.append(template("drop_table", table=names.qualify(getattr(names, field))))
    for enum in (names.qualify(names.queue_status_type), retired_statistics_enum(names)):
        out.append(template("drop_type", "upgrade.sql", type=enum))
    return "\n".join(out) + "\n"


def retired_statistics_enum(names: Names) -> str:
    """Releases before 0.27 kept statistics.status on an enum of its own."""
    schema = names.schema_of(names.queue_status_type)
    bare = quote_ident(f"{names.prefix.lower()}pgqueuer_statistics_status")
    return f"{quote_ident(schema)}.{bare}" if schema else bare


def durability_sql(
    names: Names, durability: Durability | str, *, only: set[str] | None = None
) -> str:
    """ALTER TABLE ... SET LOGGED/UNLOGGED for each table (or only the given Names fields)."""
    level = Durability.parse(durability)
    out = [header(names, "durability", durability=level.value)]
    for field, logged in PERSISTENCE[level].items():
        if only is not None and field not in only:
            continue
        mode = "LOGGED" if logged else "UNLOGGED"
        out.append(
            template("set_persistence", table=names.qualify(getattr(names, field)), mode=mode)
        )
    return "\n".join(out) + "\n"


def autovac_sql(names: Names, *, rollback: bool = False) -> str:
    """Autovacuum storage parameters sized for a high-churn queue, or their RESET."""
    out = [header(names, "autovac rollback" if rollback else "autovac")]
    for field, params in AUTOVAC_TABLES.items():
        table = names.qualify(getattr(names, field))
        if rollback:
            out.append(template("reset_storage", table=table, settings=", ".join(params)))
        else:
            settings = ", ".join(f"{k} = {v}" for k, v in params.items())
            out.append(template("set_storage", table=table, settings=settings))
    return "\n".join(out) + "\n"
