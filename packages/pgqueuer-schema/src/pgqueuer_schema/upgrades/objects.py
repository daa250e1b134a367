"""The upgrade steps about the installation as a whole: schemas, the status enum, indexes,
the notify function and triggers, retired objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgqueuer.names import quote_ident, quote_literal
from pgqueuer_schema import render
from pgqueuer_schema.declaration import retired_index_names
from pgqueuer_schema.upgrades.base import (
    GlobalStep,
    Target,
    create_concurrently,
    fold_statistics_sql,
    index_matches,
    qualify_index,
    rebuild_name,
    schema_expr,
    sql,
    ws,
)

if TYPE_CHECKING:
    from pgqueuer_schema.inspect import Catalog
    from pgqueuer_schema.plan import Plan


class CreateSchemas(GlobalStep):
    key = "create_schema"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for schema, exists in catalog.schemas.items():
            if not exists:
                plan.add(
                    sql("create_schema", schema=quote_ident(schema)),
                    f"missing schema {schema!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [sql("create_schema", schema=quote_ident(s)) for s in render.schemas_of(t.names)]


class CreateEnum(GlobalStep):
    key = "create_enum"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.enum_labels is None:
            plan.add(
                render.enum_sql(t.names, t.decl.enum_labels),
                f"missing type {t.status_bare!r}",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        statement = render.enum_sql(t.names, t.decl.enum_labels)
        return [sql("ignore_duplicate", statement=statement, errors="duplicate_object")]


class AddEnumLabels(GlobalStep):
    key = "add_enum_label"

    def _label(self, t: Target, i: int) -> str:
        labels = t.decl.enum_labels
        after = f" AFTER {quote_literal(labels[i - 1])}" if i else ""
        return sql(
            "add_enum_label", type=t.status_type, label=quote_literal(labels[i]), after=after
        )

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.enum_labels is None:
            return  # CreateEnum creates it with every label
        for i, label in enumerate(t.decl.enum_labels):
            if label not in catalog.enum_labels:
                plan.add(
                    self._label(t, i),
                    f"type {t.status_bare!r} lacks label {label!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [self._label(t, i) for i in range(len(t.decl.enum_labels))]


class DropRetiredIndexes(GlobalStep):
    key = "retired_index"

    def _drop(self, t: Target, field: str, index: str) -> str:
        table = getattr(t.names, field)
        qualified = t.names.qualify_derived(table, index[len(t.names.bare(table)) :])
        return sql("drop_index", guard="IF EXISTS ", index=qualified)

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for field, index in retired_index_names(t.names):
            if index in catalog.indexes:
                plan.add(
                    self._drop(t, field, index),
                    f"retired index {index!r} is still installed",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [self._drop(t, field, index) for field, index in retired_index_names(t.names)]


class FoldStatistics(GlobalStep):
    """Rows sharing a bucket of the statistics unique index are merged before it is built."""

    key = "fold_statistics"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for index in t.decl.indexes:
            if index.table != "statistics_table" or not index.unique:
                continue
            if not index_matches(t, index, catalog, index.name):
                plan.add(
                    fold_statistics_sql(t.names),
                    f"statistics rows may repeat a bucket of {index.name!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [fold_statistics_sql(t.names)]


class Indexes(GlobalStep):
    """Declared indexes: built when missing; rebuilt beside the old one and swapped in when
    their definition changed (online), dropped and re-created (offline)."""

    key = "index"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        names = t.names
        for index in t.decl.indexes:
            have = catalog.indexes.get(index.name)
            spare_name = rebuild_name(index.name)
            spare = catalog.indexes.get(spare_name)
            spare_sql = qualify_index(names, index, spare_name)
            if index_matches(t, index, catalog, index.name):
                if spare is not None:  # left over from an interrupted rebuild that finished
                    plan.add(
                        sql("drop_index", guard="IF EXISTS ", index=spare_sql),
                        f"leftover index {spare_name!r}",
                        kind=self.key,
                    )
                continue
            spare_ready = index_matches(t, index, catalog, spare_name)
            if have is None:
                if spare_ready:
                    plan.add(
                        sql("rename_index", index=spare_sql, name=quote_ident(index.name)),
                        f"missing index {index.name!r} (finishing an interrupted rebuild)",
                        kind=self.key,
                    )
                    continue
                plan.add(
                    create_concurrently(names, index),
                    f"missing index {index.name!r}",
                    note=f"building index {index.name!r} (CONCURRENTLY: writes continue)",
                    kind=self.key,
                )
                continue
            reason = (
                f"index {index.name!r} is invalid"
                if not have.valid
                else f"index {index.name!r} is {have.tail}, expected {index.tail}"
            )
            if not spare_ready:
                if spare is not None:
                    plan.add(
                        sql("drop_index", guard="IF EXISTS ", index=spare_sql),
                        f"stale leftover index {spare_name!r}",
                        kind=self.key,
                    )
                plan.add(
                    create_concurrently(names, index, name=spare_name),
                    reason,
                    note=f"rebuilding index {index.name!r} beside the old one",
                    kind=self.key,
                )
            plan.add(
                sql("drop_index", guard="", index=qualify_index(names, index, index.name))
                + "\n"
                + sql("rename_index", index=spare_sql, name=quote_ident(index.name)),
                f"swap in the rebuilt {index.name!r}",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        names = t.names
        out = []
        for index in t.decl.indexes:
            table = getattr(names, index.table)
            out.append(
                sql(
                    "drop_index_if_changed",
                    schema=schema_expr(names, table),
                    name=quote_literal(index.name),
                    tail=quote_literal(index.tail),
                    index=names.qualify_derived(table, index.name[len(names.bare(table)) :]),
                )
            )
            out.append(render.index_sql(names, index, guard=True))
        return out


class NotifyTriggers(GlobalStep):
    """The notify function and the three triggers, replaced together in one transaction: a
    trigger must never fire into a function body written for another trigger shape."""

    key = "notify_trigger"

    def _replace(self, t: Target, triggers: list[str]) -> list[str]:
        queue = t.names.qualify(t.names.queue_table)
        out = [render.function_sql(t.names)]
        for trigger in t.decl.triggers:
            if trigger.name in triggers:
                out.append(sql("drop_trigger", trigger=quote_ident(trigger.name), table=queue))
                out.append(render.trigger_sql(t.names, trigger))
        return out

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        names = t.names
        reasons: list[str] = []
        fn_bare = names.bare(names.function)
        if catalog.function_source is None:
            reasons.append(f"missing function {fn_bare!r}")
        elif ws(catalog.function_source) != ws(render.function_body(names)):
            reasons.append(f"function {fn_bare!r} differs")
        changed = []
        for trigger in t.decl.triggers:
            want = render.template(
                "create_trigger",
                name=trigger.name,
                timing=trigger.timing_events,
                body=trigger.body,
            ).removesuffix(";")  # as pg_get_triggerdef prints it
            have = catalog.triggers.get(trigger.name)
            if have is None:
                reasons.append(f"missing trigger {trigger.name!r}")
            elif ws(have) != ws(want):
                reasons.append(f"trigger {trigger.name!r} differs")
            else:
                continue
            changed.append(trigger.name)
        if reasons:
            plan.add("\n".join(self._replace(t, changed)), *reasons, kind=self.key)

    def guarded(self, t: Target) -> list[str]:
        return self._replace(t, [trigger.name for trigger in t.decl.triggers])


class DropRetiredEnum(GlobalStep):
    key = "retired_enum"

    def _drop(self, t: Target) -> str:
        return sql("drop_type", type=render.retired_statistics_enum(t.names))

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.retired_enum:
            plan.add(
                self._drop(t),
                "retired type 'pgqueuer_statistics_status' is still installed",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        return [self._drop(t)]
