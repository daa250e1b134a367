"""The pydantic calls PgQueuer users make on its models work on ours (slots dataclasses)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

import pgqueuer.models as models
from pgqueuer import PgQueuer
from pgqueuer.models import (
    AnyEvent,
    CancellationEvent,
    HealthCheckEvent,
    Job,
    Log,
    ModelMixin,
    QueueStatistics,
    Schedule,
    TableChangedEvent,
    TracebackRecord,
)
from pgqueuer.types import QueueExecutionMode

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
QM = uuid.UUID("12345678-1234-5678-1234-567812345678")


def a_job(**changes: object) -> Job:
    values: dict[str, object] = {
        "id": 7,
        "priority": 3,
        "created": T0,
        "updated": T0,
        "heartbeat": T0,
        "execute_after": T0,
        "status": "picked",
        "entrypoint": "email",
        "payload": b"hello",
        "attempts": 1,
        "queue_manager_id": QM,
        "slot": None,
        "headers": {"otel": {"traceparent": "00-abc"}},
    }
    values.update(changes)
    return Job(**values)  # type: ignore[arg-type]


def a_traceback() -> TracebackRecord:
    try:
        raise ValueError("broken")
    except ValueError as exc:
        return TracebackRecord.from_exception(exc, 7, {"entrypoint": "email"})


# Context and ScheduleContext are plain dataclasses in PgQueuer too (they hold a cancel scope
# and the shared resources), so they are not models; FieldInfo describes a model's field.
NOT_MODELS = {models.Context, models.ScheduleContext, models.FieldInfo}
MODEL_CLASSES = [
    obj
    for _, obj in inspect.getmembers(models, inspect.isclass)
    if dataclasses.is_dataclass(obj)
    and obj.__module__.startswith("pgqueuer.")
    and obj not in NOT_MODELS
]


def test_the_model_list_is_not_empty() -> None:
    assert {Job, Log, TracebackRecord, Schedule, QueueStatistics, AnyEvent} <= set(MODEL_CLASSES)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_every_model_class_answers_the_pydantic_api(cls: type) -> None:
    assert issubclass(cls, ModelMixin), f"add ModelMixin as the base of {cls.__name__}"
    assert list(cls.model_fields) == [f.name for f in dataclasses.fields(cls) if f.init]
    assert hasattr(cls, "__slots__")  # still slots: the mixin adds no per-instance dict


def test_model_dump_python_keeps_values_and_dumps_nested_models() -> None:
    job = a_job()
    dumped = job.model_dump()
    assert dumped["payload"] == b"hello"
    assert dumped["created"] == T0
    assert dumped["queue_manager_id"] == QM
    assert dumped["headers"] == {"otel": {"traceparent": "00-abc"}}
    log = Log(T0, 7, "exception", 3, "email", a_traceback(), False)  # type: ignore[arg-type]
    assert isinstance(log.model_dump()["traceback"], dict)
    assert log.model_dump()["traceback"]["exception_type"] == "ValueError"


def test_model_dump_json_mode_gives_json_types() -> None:
    dumped = a_job().model_dump(mode="json")
    assert dumped["created"] == "2024-05-01T12:00:00Z"
    assert dumped["payload"] == "hello"
    assert dumped["queue_manager_id"] == str(QM)
    json.dumps(dumped)  # nothing left that json cannot write


def test_include_exclude_and_exclude_none() -> None:
    job = a_job()
    assert job.model_dump(include={"id", "status"}) == {"id": 7, "status": "picked"}
    assert "payload" not in job.model_dump(exclude={"payload"})
    assert "slot" not in job.model_dump(exclude_none=True)
    assert "slot" in job.model_dump()
    nested = job.model_dump(include={"headers": {"otel"}, "id": True})
    assert nested == {"id": 7, "headers": {"otel": {"traceparent": "00-abc"}}}


def test_model_dump_json_compact_or_indented() -> None:
    job = a_job()
    compact = job.model_dump_json()
    assert '"id":7' in compact and "\n" not in compact
    indented = job.model_dump_json(indent=2)
    assert '\n  "id": 7' in indented
    assert json.loads(indented) == json.loads(compact)


def test_traceback_record_json_round_trip() -> None:
    record = a_traceback()
    text = record.model_dump_json()
    assert json.loads(text)["exception_message"] == "broken"
    assert TracebackRecord.model_validate_json(text) == record
    assert TracebackRecord.model_validate(json.loads(text)) == record


def test_model_validate_coerces_strings_from_json_and_rows() -> None:
    job = Job.model_validate(
        {
            "id": "7",
            "priority": 3,
            "created": "2024-05-01T12:00:00Z",
            "updated": "2024-05-01T12:00:00+00:00",
            "heartbeat": "2024-05-01T12:00:00",  # naive: taken as UTC
            "execute_after": T0,
            "status": "picked",
            "entrypoint": "email",
            "payload": "hello",
            "attempts": 1,
            "queue_manager_id": str(QM),
            "headers": '{"otel": {"traceparent": "00-abc"}}',
            "not_a_field": "ignored, as pydantic does",
        }
    )
    assert job == a_job()


def test_model_validate_reads_attributes_and_returns_instances_unchanged() -> None:
    job = a_job()
    assert Job.model_validate(job) is job
    stats = QueueStatistics.model_validate(
        SimpleNamespace(count=2, entrypoint="email", priority=0, status="queued")
    )
    assert stats == QueueStatistics(2, "email", 0, "queued")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "lost"}, "status"),
        ({"created": "yesterday"}, "created"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_model_validate_rejects_bad_input_with_a_value_error(
    change: dict[str, object], message: str
) -> None:
    data = a_job().model_dump(mode="json")
    data.update(change)
    with pytest.raises(ValueError, match=message):
        Job.model_validate(data)


def test_model_validate_needs_required_fields() -> None:
    with pytest.raises(ValueError, match="field required"):
        QueueStatistics.model_validate({"count": 1})
    with pytest.raises(ValueError, match="JSON"):
        Job.model_validate_json("{not json")


def test_model_copy_with_update_and_deep() -> None:
    job = a_job()
    copied = job.model_copy(update={"priority": 9})
    assert copied.priority == 9 and job.priority == 3
    assert copied.headers is job.headers  # shallow by default
    deep = job.model_copy(deep=True)
    assert deep == job and deep.headers is not job.headers


def test_model_fields_is_a_class_level_mapping_with_defaults() -> None:
    fields = Job.model_fields
    assert list(fields) == [
        "id",
        "priority",
        "created",
        "updated",
        "heartbeat",
        "execute_after",
        "status",
        "entrypoint",
        "payload",
        "attempts",
        "queue_manager_id",
        "slot",
        "headers",
    ]
    assert fields["id"].is_required()
    assert not fields["attempts"].is_required() and fields["attempts"].default == 0
    assert fields["created"].annotation is datetime


def test_model_construct_fills_defaults_without_coercion() -> None:
    schedule = Schedule.model_construct(
        id=1, expression="* * * * *", heartbeat=T0, created=T0, updated=T0, next_run=T0
    )
    assert schedule.last_run is None
    assert schedule.status == "queued"


def test_equality_compares_fields_and_type() -> None:
    assert a_job() == a_job()
    assert a_job() != a_job(priority=4)
    assert a_job() != a_job().model_dump()


def payload(kind: str, **extra: object) -> str:
    return json.dumps({"channel": "ch", "sent_at": "2024-05-01T12:00:00Z", "type": kind, **extra})


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        (payload("table_changed_event", operation="insert", table="pgqueuer"), TableChangedEvent),
        (payload("cancellation_event", ids=[1, 2]), CancellationEvent),
        (payload("health_check_event", id=str(QM)), HealthCheckEvent),
    ],
)
def test_any_event_picks_the_event_by_its_type(text: str, cls: type) -> None:
    event = AnyEvent.model_validate_json(text)
    assert type(event.root) is cls
    assert event.root.sent_at == T0
    assert event.root.latency == event.root.received_at - T0
    assert event.root.latency > timedelta(0)
    assert json.loads(event.model_dump_json())["type"] == json.loads(text)["type"]
    assert AnyEvent.model_validate(json.loads(text)).root.type == event.root.type


def test_any_event_rejects_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="type must be one of"):
        AnyEvent.model_validate_json(payload("something_else"))


def test_health_check_ids_are_uuids_after_validation() -> None:
    event = AnyEvent.model_validate_json(payload("health_check_event", id=str(QM))).root
    assert isinstance(event, HealthCheckEvent) and event.id == QM


async def test_a_handler_can_dump_the_job_it_receives() -> None:
    pgq = PgQueuer.in_memory()
    dumped: list[dict[str, object]] = []

    @pgq.entrypoint("email")
    async def email(job: Job) -> None:
        dumped.append(json.loads(job.model_dump_json()))

    await pgq.queries.enqueue("email", b"hi", headers={"k": "v"})
    await pgq.run(mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=1))
    assert len(dumped) == 1
    assert dumped[0]["payload"] == "hi" and dumped[0]["headers"] == {"k": "v"}
    assert Job.model_validate(dumped[0]).payload == b"hi"
