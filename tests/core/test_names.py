"""Unit tests of pgqueuer.names: defaults, prefix, schema, overrides, validation, substitution."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pgqueuer.errors import InvalidIdentifierError, PgQueuerError
from pgqueuer.names import DEFAULT_NAMES, Names, quote_ident, quote_literal

# PgQueuer 1.6 defaults (reference section 1.1), spelled out rather than read from the module.
PGQUEUER_DEFAULTS = {
    "queue_table": "pgqueuer",
    "queue_table_log": "pgqueuer_log",
    "statistics_table": "pgqueuer_statistics",
    "schedules_table": "pgqueuer_schedules",
    "queue_status_type": "pgqueuer_status",
    "function": "fn_pgqueuer_changed",
    "trigger": "tg_pgqueuer_changed",
    "channel": "ch_pgqueuer",
}
ENV_VARS = {
    "queue_table": "PGQUEUER_QUEUE_TABLE",
    "queue_table_log": "PGQUEUER_QUEUE_TABLE_LOG",
    "statistics_table": "PGQUEUER_STATISTICS_TABLE",
    "schedules_table": "PGQUEUER_SCHEDULES_TABLE",
    "queue_status_type": "PGQUEUER_QUEUE_STATUS_TYPE",
    "function": "PGQUEUER_FUNCTION",
    "trigger": "PGQUEUER_TRIGGER",
    "channel": "PGQUEUER_CHANNEL",
}
LONGEST_DEFAULT_DERIVED = "pgqueuer_schedules_expression_entrypoint_key"
ALLOWED_HINT = "letters, digits and '_'"
BARE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
QUOTED = re.compile(r'^"[a-z_][a-z0-9_]*"(\."[a-z_][a-z0-9_]*")?$')

INVALID_IDENTIFIERS = [
    'a"b',
    "a'b",
    "a;b",
    "a b",
    " pgqueuer",
    "pgqueuer ",
    "1abc",
    "9",
    "a-b",
    "a$b",
    "a\nb",
    "abc\n",
    "a\tb",
    "a\x00b",
    "é",
    "café",
    "\u212a",  # KELVIN SIGN, which lower-cases to ASCII 'k'
    "\uff46\uff55\uff4c\uff4c",  # fullwidth letters
    "a\u200bb",  # zero-width space
    'x"; DROP TABLE y; --',
    "'; DROP TABLE y; --",
    "x/*comment*/",
    "a)b",
]


# -- defaults and prefix -----------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(PGQUEUER_DEFAULTS))
@pytest.mark.parametrize(
    "build",
    [Names.create, lambda: Names.from_env({}), lambda: DEFAULT_NAMES],
    ids=["create", "from_env", "DEFAULT_NAMES"],
)
def test_defaults_match_pgqueuer(build, field: str) -> None:
    names = build()
    assert getattr(names, field) == PGQUEUER_DEFAULTS[field]
    assert names.prefix == ""
    assert names.schema is None


@pytest.mark.parametrize("field", sorted(PGQUEUER_DEFAULTS))
@pytest.mark.parametrize("prefix", ["foo_", "x", "_", "Q1_"])
def test_prefix_applies_to_every_name_including_channel(field: str, prefix: str) -> None:
    names = Names.create(prefix=prefix)
    expected = prefix + PGQUEUER_DEFAULTS[field]
    if field != "channel":  # identifiers fold to lower case; the channel keeps its spelling
        expected = expected.lower()
    assert getattr(names, field) == expected


def test_prefix_from_env() -> None:
    names = Names.from_env({"PGQUEUER_PREFIX": "env_"})
    assert names.prefix == "env_"
    assert names.queue_table == "env_pgqueuer"
    assert names.channel == "env_ch_pgqueuer"
    assert names.trigger_names[0] == "env_tg_pgqueuer_changed"


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUER_PREFIX", "osenv_")
    monkeypatch.setenv("PGQUEUER_SCHEMA", "OsSchema")
    names = Names.from_env()
    assert names.queue_table == "osenv_pgqueuer"
    assert names.schema == "osschema"


def test_explicit_prefix_and_schema_arguments_win_over_env() -> None:
    env = {"PGQUEUER_PREFIX": "env_", "PGQUEUER_SCHEMA": "envschema"}
    names = Names.from_env(env, prefix="arg_", schema="argschema")
    assert names.queue_table == "arg_pgqueuer"
    assert names.schema == "argschema"
    # An explicit empty string clears the environment's value.
    cleared = Names.from_env(env, prefix="", schema="")
    assert cleared.queue_table == "pgqueuer"
    assert cleared.schema is None


# -- explicit overrides ------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(ENV_VARS))
def test_env_override_wins_over_prefix(field: str) -> None:
    env = {"PGQUEUER_PREFIX": "pre_", ENV_VARS[field]: "custom_name"}
    names = Names.from_env(env)
    assert getattr(names, field) == "custom_name"
    # Every other name still gets the prefix.
    for other, default in PGQUEUER_DEFAULTS.items():
        if other != field:
            assert getattr(names, other) == "pre_" + default


@pytest.mark.parametrize("field", sorted(ENV_VARS))
def test_create_override_wins_over_prefix(field: str) -> None:
    names = Names.create(prefix="pre_", **{field: "mine"})
    assert getattr(names, field) == "mine"


@pytest.mark.parametrize("field", sorted(ENV_VARS))
def test_empty_env_override_means_default(field: str) -> None:
    names = Names.from_env({"PGQUEUER_PREFIX": "p_", ENV_VARS[field]: ""})
    assert getattr(names, field) == "p_" + PGQUEUER_DEFAULTS[field]


def test_override_is_lower_cased_but_channel_is_not() -> None:
    names = Names.from_env({"PGQUEUER_QUEUE_TABLE": "MyJobs", "PGQUEUER_CHANNEL": "MyChan"})
    assert names.queue_table == "myjobs"
    assert names.qualify(names.queue_table) == '"myjobs"'
    assert names.channel == "MyChan"


@pytest.mark.parametrize(
    "legacy",
    [
        {"TRIGGER": "legacy_tg"},
        {"CHANNEL": "legacy_ch"},
        {"QUEUE_TABLE": "legacy_q"},
        {"QUEUE_TABLE_LOG": "legacy_log"},
        {"STATISTICS_TABLE": "legacy_stats"},
        {"SCHEDULES_TABLE": "legacy_sched"},
        {"QUEUE_STATUS_TYPE": "legacy_status"},
        {"DB_SCHEMA": "legacy_schema"},
        {"FUNCTION": "legacy_fn"},
        {"PREFIX": "legacy_"},
    ],
    ids=lambda d: next(iter(d)),
)
def test_bare_legacy_env_names_are_ignored(legacy: dict[str, str]) -> None:
    assert Names.from_env(legacy) == Names.create()


def test_bare_legacy_env_names_are_ignored_in_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TRIGGER", "CHANNEL", "QUEUE_TABLE", "DB_SCHEMA", "FUNCTION"):
        monkeypatch.setenv(var, "legacy_value")
    assert Names.from_env() == Names.create()


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="queue_tabel"):
        Names.create(queue_tabel="x")  # type: ignore[arg-type]


def test_names_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_NAMES.queue_table = "other"  # type: ignore[misc]


# -- schema and qualification ------------------------------------------------------------------


def test_schema_is_lower_cased_and_qualifies_tables_type_and_function() -> None:
    names = Names.create(schema="MySchema")
    assert names.schema == "myschema"
    assert names.qualify(names.queue_table) == '"myschema"."pgqueuer"'
    assert names.qualify(names.queue_table_log) == '"myschema"."pgqueuer_log"'
    assert names.qualify(names.statistics_table) == '"myschema"."pgqueuer_statistics"'
    assert names.qualify(names.schedules_table) == '"myschema"."pgqueuer_schedules"'
    assert names.qualify(names.queue_status_type) == '"myschema"."pgqueuer_status"'
    assert names.qualify(names.function) == '"myschema"."fn_pgqueuer_changed"'
    assert names.qualify_derived(names.queue_table, "_pkey") == '"myschema"."pgqueuer_pkey"'


def test_schema_from_env() -> None:
    names = Names.from_env({"PGQUEUER_SCHEMA": "S", "PGQUEUER_PREFIX": "p_"})
    assert names.qualify(names.queue_table) == '"s"."p_pgqueuer"'
    assert names.schema_of(names.queue_table) == "s"


def test_without_schema_names_are_quoted_but_unqualified() -> None:
    names = Names.create()
    assert names.qualify(names.queue_table) == '"pgqueuer"'
    assert names.qualify_derived(names.queue_table, "_pkey") == '"pgqueuer_pkey"'
    assert names.schema_of(names.queue_table) is None


def test_channel_and_trigger_are_never_schema_qualified() -> None:
    subs = Names.create(schema="s").substitutions()
    assert subs["channel"] == "'ch_pgqueuer'"
    assert subs["trigger"] == '"tg_pgqueuer_changed"'
    assert subs["queue_table"] == '"s"."pgqueuer"'


def test_describe_mentions_prefix_and_schema() -> None:
    assert Names.create(prefix="x_", schema="jobs").describe() == "prefix='x_', schema='jobs'"
    assert "search_path" in Names.create().describe()


@pytest.mark.parametrize("field", sorted(set(ENV_VARS) - {"channel"}))
def test_dotted_override_allowed_without_schema(field: str) -> None:
    names = Names.create(**{field: "Other.Jobs"})
    assert getattr(names, field) == "other.jobs"
    assert names.bare(getattr(names, field)) == "jobs"
    assert names.schema_of(getattr(names, field)) == "other"
    if field != "trigger":
        assert names.qualify(getattr(names, field)) == '"other"."jobs"'


def test_dotted_override_qualifies_derived_names_in_its_schema() -> None:
    names = Names.from_env({"PGQUEUER_QUEUE_TABLE": "other.jobs"})
    assert names.qualify_derived(names.queue_table, "_pkey") == '"other"."jobs_pkey"'
    assert "jobs_pkey" in names.derived_names()
    assert "other.jobs" not in names.derived_names()
    # The rest stays in the search_path.
    assert names.qualify(names.queue_table_log) == '"pgqueuer_log"'


@pytest.mark.parametrize("field", sorted(set(ENV_VARS) - {"channel"}))
def test_dotted_override_rejected_with_a_schema(field: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="schema") as info:
        Names.from_env({"PGQUEUER_SCHEMA": "s", ENV_VARS[field]: "other.jobs"})
    assert ENV_VARS[field] in str(info.value)


@pytest.mark.parametrize("value", ["a.b.c", ".jobs", "other.", ".", "..", "a..b", "a. b"])
def test_malformed_dotted_override_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=re.escape(ALLOWED_HINT)):
        Names.create(queue_table=value)


# -- invalid identifiers -----------------------------------------------------------------------


@pytest.mark.parametrize("value", INVALID_IDENTIFIERS)
def test_invalid_prefix_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        Names.create(prefix=value)
    message = str(info.value)
    assert ALLOWED_HINT in message
    assert "prefix" in message


@pytest.mark.parametrize("value", INVALID_IDENTIFIERS)
def test_invalid_schema_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        Names.create(schema=value)
    message = str(info.value)
    assert ALLOWED_HINT in message
    assert "schema" in message


@pytest.mark.parametrize("field", sorted(set(ENV_VARS) - {"channel"}))
@pytest.mark.parametrize("value", INVALID_IDENTIFIERS)
def test_invalid_env_override_rejected(field: str, value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        Names.from_env({ENV_VARS[field]: value})
    message = str(info.value)
    assert ALLOWED_HINT in message
    assert ENV_VARS[field] in message  # tells the user which setting is wrong


def test_invalid_identifier_error_is_a_value_error() -> None:
    assert issubclass(InvalidIdentifierError, ValueError)
    assert issubclass(InvalidIdentifierError, PgQueuerError)
    with pytest.raises(ValueError):
        Names.create(prefix="bad prefix")


def test_injection_attempt_never_reaches_sql() -> None:
    hostile = 'x"; DROP TABLE y; --'
    for kwargs in ({"prefix": hostile}, {"schema": hostile}, {"queue_table": hostile}):
        with pytest.raises(InvalidIdentifierError):
            Names.create(**kwargs)


def test_quote_ident_doubles_quotes() -> None:
    assert quote_ident("plain") == '"plain"'
    assert quote_ident('x"; DROP TABLE y; --') == '"x""; DROP TABLE y; --"'


def test_quote_literal_doubles_single_quotes() -> None:
    assert quote_literal("ch_pgqueuer") == "'ch_pgqueuer'"
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("'; DROP TABLE y; --") == "'''; DROP TABLE y; --'"
    assert quote_literal("") == "''"


# -- the 63-byte limit -------------------------------------------------------------------------


def test_longest_default_derived_name() -> None:
    derived = Names.create().derived_names()
    assert max(derived, key=len) == LONGEST_DEFAULT_DERIVED


def test_longest_prefix_that_fits_and_one_more_fails() -> None:
    longest_ok = max(n for n in range(64) if _prefix_works("p" * n))
    assert longest_ok == 63 - len(LONGEST_DEFAULT_DERIVED)  # 19
    names = Names.create(prefix="p" * longest_ok)
    assert max(len(n.encode()) for n in names.derived_names()) == 63

    too_long = "p" * (longest_ok + 1)
    with pytest.raises(InvalidIdentifierError) as info:
        Names.create(prefix=too_long)
    message = str(info.value)
    assert too_long + LONGEST_DEFAULT_DERIVED in message  # names the derived name
    assert "63" in message


def _prefix_works(prefix: str) -> bool:
    try:
        Names.create(prefix=prefix)
    except InvalidIdentifierError:
        return False
    return True


@pytest.mark.parametrize(
    ("field", "longest_suffix"),
    [
        ("queue_table", "_picked_heartbeat_idx"),
        ("queue_table_log", "_not_aggregated"),
        ("statistics_table", "_unique_count"),
        ("schedules_table", "_expression_entrypoint_key"),
        ("trigger", "_update"),
        ("queue_status_type", ""),
        ("function", ""),
    ],
)
def test_length_limit_applies_to_explicit_names(field: str, longest_suffix: str) -> None:
    fits = "n" * (63 - len(longest_suffix))
    assert getattr(Names.create(**{field: fits}), field) == fits
    too_long = fits + "n"
    with pytest.raises(InvalidIdentifierError) as info:
        Names.create(**{field: too_long})
    assert too_long + longest_suffix in str(info.value)


def test_length_limit_applies_to_schema() -> None:
    assert Names.create(schema="s" * 63).schema == "s" * 63
    with pytest.raises(InvalidIdentifierError, match="s" * 64):
        Names.create(schema="s" * 64)


def test_length_limit_applies_to_schema_part_of_dotted_override() -> None:
    with pytest.raises(InvalidIdentifierError):
        Names.create(queue_table="s" * 64 + ".jobs")


# -- channel -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel", ["my.channel", "my-channel", "a.b-c_d", "_x", "Chan", "c" * 63, "x1.2-3"]
)
def test_valid_channels(channel: str) -> None:
    names = Names.from_env({"PGQUEUER_CHANNEL": channel, "PGQUEUER_PREFIX": "p_"})
    assert names.channel == channel  # explicit: no prefix, no case folding
    assert names.substitutions()["channel"] == quote_literal(channel)


@pytest.mark.parametrize(
    "channel",
    [
        "c" * 64,
        "a b",
        "a;b",
        "a'b",
        'a"b',
        "1chan",
        "-chan",
        ".chan",
        "chän",
        "ch/an",
        "chan\n",
        "x'; DROP TABLE y; --",
    ],
)
def test_invalid_channels(channel: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        Names.from_env({"PGQUEUER_CHANNEL": channel})
    message = str(info.value)
    assert "PGQUEUER_CHANNEL" in message
    assert "'.'" in message
    assert "'-'" in message
    assert "63" in message


def test_channel_from_a_too_long_prefix_is_rejected() -> None:
    # 53 + len("ch_pgqueuer") = 64 bytes; the channel check is the first to fire.
    with pytest.raises(InvalidIdentifierError, match="channel"):
        Names.create(prefix="p" * 53)


# -- substitution ------------------------------------------------------------------------------


def test_substitute_table_marker_default() -> None:
    sql = "SELECT id FROM /*@queue_table*/pgqueuer WHERE true"
    assert Names.create().substitute(sql) == 'SELECT id FROM "pgqueuer" WHERE true'


def test_substitute_table_marker_with_prefix_and_schema() -> None:
    names = Names.create(prefix="p_", schema="S")
    sql = "INSERT INTO /*@queue_table_log*/pgqueuer_log SELECT * FROM /*@queue_table*/pgqueuer;"
    assert (
        names.substitute(sql) == 'INSERT INTO "s"."p_pgqueuer_log" SELECT * FROM "s"."p_pgqueuer";'
    )


def test_substitute_channel_literal_marker() -> None:
    names = Names.create(prefix="p_")
    sql = "PERFORM pg_notify(/*@channel*/'ch_pgqueuer', payload);"
    assert names.substitute(sql) == "PERFORM pg_notify('p_ch_pgqueuer', payload);"


def test_substitute_replaces_the_whole_literal_even_with_doubled_quotes() -> None:
    names = Names.create(channel="mine")
    assert names.substitute("x(/*@channel*/'it''s', 1)") == "x('mine', 1)"


def test_substitute_every_marker() -> None:
    names = Names.create(prefix="p_")
    sql = " ".join(
        f"/*@{field}*/'{default}'" if field == "channel" else f"/*@{field}*/{default}"
        for field, default in PGQUEUER_DEFAULTS.items()
    )
    assert names.substitute(sql) == (
        '"p_pgqueuer" "p_pgqueuer_log" "p_pgqueuer_statistics" "p_pgqueuer_schedules" '
        '"p_pgqueuer_status" "p_fn_pgqueuer_changed" "p_tg_pgqueuer_changed" '
        "'p_ch_pgqueuer'"
    )


def test_substitute_leaves_sql_without_markers_alone() -> None:
    sql = "SELECT 'pgqueuer', pgqueuer.id FROM pgqueuer /* note */"
    assert Names.create(prefix="p_").substitute(sql) == sql


def test_substitute_unknown_marker_raises_key_error() -> None:
    with pytest.raises(KeyError, match="no_such_name"):
        Names.create().substitute("SELECT * FROM /*@no_such_name*/pgqueuer")


def test_substitute_marker_without_a_word_after_it_is_an_error() -> None:
    with pytest.raises(ValueError, match="marker"):
        Names.create().substitute("SELECT * FROM /*@queue_table*/ pgqueuer")


# -- trigger and derived names -----------------------------------------------------------------


def test_trigger_names_default() -> None:
    assert Names.create().trigger_names == (
        "tg_pgqueuer_changed",
        "tg_pgqueuer_changed_update",
        "tg_pgqueuer_changed_delete",
    )


def test_trigger_names_with_prefix_override_and_schema() -> None:
    assert Names.create(prefix="p_", schema="s").trigger_names[0] == "p_tg_pgqueuer_changed"
    assert Names.create(trigger="other.tg").trigger_names == ("tg", "tg_update", "tg_delete")
    assert Names.create(prefix="p_", trigger="Mine").trigger_names[2] == "mine_delete"


@pytest.mark.parametrize(
    "expected",
    [
        "pgqueuer",
        "pgqueuer_pkey",
        "pgqueuer_id_seq",
        "pgqueuer_ep_prio_id_idx",
        "pgqueuer_ep_ea_idx",
        "pgqueuer_picked_heartbeat_idx",
        "pgqueuer_unique_dedupe_key",
        "pgqueuer_picked_slot_idx",
        "pgqueuer_log",
        "pgqueuer_log_pkey",
        "pgqueuer_log_id_seq",
        "pgqueuer_log_not_aggregated",
        "pgqueuer_log_created",
        "pgqueuer_log_job_id_status",
        "pgqueuer_statistics",
        "pgqueuer_statistics_pkey",
        "pgqueuer_statistics_id_seq",
        "pgqueuer_statistics_unique_count",
        "pgqueuer_schedules",
        "pgqueuer_schedules_pkey",
        "pgqueuer_schedules_id_seq",
        "pgqueuer_schedules_expression_entrypoint_key",
        "pgqueuer_status",
        "fn_pgqueuer_changed",
        "tg_pgqueuer_changed",
        "tg_pgqueuer_changed_update",
        "tg_pgqueuer_changed_delete",
    ],
)
def test_derived_names_contain(expected: str) -> None:
    assert expected in Names.create().derived_names()
    assert "p_" + expected in Names.create(prefix="p_").derived_names()


def test_derived_names_have_no_duplicates_or_empties() -> None:
    derived = Names.create(prefix="p_").derived_names()
    assert len(derived) == len(set(derived))
    assert "" not in derived
    assert "ch_pgqueuer" not in Names.create().derived_names()  # channels are not objects


def test_derived_names_include_schema_only_when_set() -> None:
    assert "myschema" in Names.create(schema="MySchema").derived_names()
    assert all(not n.startswith("myschema") for n in Names.create().derived_names())


def test_derived_helpers() -> None:
    names = Names.create(queue_table="other.jobs")
    assert names.derived(names.queue_table, "_pkey") == "jobs_pkey"
    assert names.bare("a.b") == "b"
    assert names.bare("b") == "b"


# -- property-style: hostile strings never produce unsafe names --------------------------------

HOSTILE = [
    "",
    " ",
    "_",
    "Foo_",
    "UPPER",
    "x" * 19,
    "x" * 20,
    "x" * 64,
    'a"b',
    "a'b",
    "a;b",
    "a b",
    "1abc",
    "-abc",
    "a-b",
    "a.b",
    ".",
    "a..b",
    "a.b.c",
    "abc\n",
    "\nabc",
    "a\x00b",
    "é",
    "\u212a",
    "\uff46\uff55\uff4c\uff4c",
    "a\u200bb",
    "\u0663",
    "a$b",
    "a\\b",
    "a`b",
    "%s",
    "{x}",
    'x"; DROP TABLE y; --',
    "'; DROP TABLE y; --",
    "a/*b*/",
]


@pytest.mark.parametrize("kind", ["prefix", "schema", "queue_table", "trigger", "function"])
def test_hostile_strings_either_rejected_or_safe(kind: str) -> None:
    accepted = rejected = 0
    for value in HOSTILE:
        try:
            names = Names.create(**{kind: value})
        except InvalidIdentifierError:
            rejected += 1
            continue
        accepted += 1
        for name in names.derived_names():
            assert BARE_NAME.match(name), (kind, value, name)
            assert len(name.encode()) <= 63, (kind, value, name)
        for field in PGQUEUER_DEFAULTS:
            if field != "channel":
                assert QUOTED.match(names.qualify(getattr(names, field))), (kind, value, field)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,62}", names.channel), (kind, value)
    # Both branches are exercised, so the test can tell a lax validator from a strict one.
    assert accepted >= 4
    assert rejected >= 20


@pytest.mark.parametrize(
    "overrides",
    [
        {"queue_table": "jobs", "queue_table_log": "jobs"},
        {"queue_table": "jobs", "statistics_table": "JOBS"},
        {"schedules_table": "pgqueuer_status"},
        {"queue_table": "pgqueuer_log_pkey"},  # the log's primary-key index
    ],
)
def test_two_objects_with_one_name_are_rejected(overrides):
    with pytest.raises(InvalidIdentifierError, match="two objects"):
        Names.create(**overrides)


def test_a_table_may_share_its_name_with_a_trigger_or_function():
    names = Names.create(queue_table="tg_pgqueuer_changed", queue_table_log="fn_pgqueuer_changed")
    assert names.queue_table == "tg_pgqueuer_changed"
