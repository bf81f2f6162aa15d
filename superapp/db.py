"""Database faults as the API sees them: transient conflicts are retried, an unreachable database is a 503.

- `run_in_transaction(fn)`: run `fn` inside `transaction.atomic()`, retrying the WHOLE transaction a bounded
  number of times (with jittered backoff) when PostgreSQL aborts it with a deadlock (40P01) or a
  serialization failure (40001). Only the outermost transaction can be retried (inside an enclosing atomic
  block the caller's work is already lost), so nested calls run once and let the error reach the outer retry.
- `rows_by_pk(model, pks, for_update=...)`: model instances by primary key from one prepared-once SELECT, for
  the hot money path (the ORM spends about half a millisecond of CPU building each query), and
  `rows_insert(objs)`, the INSERT of `bulk_create` (pk set from RETURNING) with the statement built once;
  `row_insert_sql(obj, computed=...)`, the same INSERT as a part of a larger statement (a CTE).
- `database_unavailable(exc)`: is this error "the database cannot answer now" (connection refused or dropped,
  server restarting, conflict retries exhausted)? The API maps it to 503 + `Retry-After`
  (`superapp.api.database_unavailable_response`), never to a 500. Django closes the broken connection at
  the end of the request and the next request opens a new one (`CONN_HEALTH_CHECKS`), so the process
  recovers without a restart.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.constants import OnConflict
from psycopg.types.numeric import Int8

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=Model)

# SQLSTATEs after which re-running the whole transaction is correct: it was rolled back entirely.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
RETRY_ATTEMPTS = 5
RETRY_BASE_S = 0.01
RETRY_AFTER_S = 1
RECONNECT_PAUSE_S = 0.25
IDEMPOTENT_RECONNECT_S = 3.0  # how long an @idempotent request waits for a restarting database


# Tests only (`tests/conftest.py`, fixture `sql_branch`): take the portable branches on PostgreSQL too.
_portable_only = False


def postgresql_sql() -> bool:
    """Whether code may take its PostgreSQL-only branch (COPY, data-modifying CTEs, server-side binding). The
    other branch is the portable SQL that SQLite runs. Every such branch asks here, so the `sql_branch` test
    fixture runs each test through both branches on PostgreSQL and production's portable code is not tested on
    SQLite alone."""
    return connection.vendor == "postgresql" and not _portable_only


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's `sqlstate`, or the wrapped cause's), if any."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if code:
            return str(code)
        seen = seen.__cause__
    return None


def is_retryable_conflict(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures and exhausted conflict retries: transient, the client may retry.
    Integrity and programming errors are bugs and stay 500s."""
    return isinstance(exc, (OperationalError, InterfaceError))


def run_in_transaction(fn: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS, reconnect_s: float = 0.0) -> T:
    """`fn()` in one atomic block, re-run on deadlock/serialization failure (at most `attempts` times).

    With `reconnect_s`, a lost or refused connection is also retried on a fresh connection for up to that
    many seconds (a PostgreSQL restart takes about one). Only for work that is safe to re-run after an
    unknown outcome: the `@idempotent` views claim their key in the same transaction, so if the lost
    transaction did commit, the re-run finds the key and replays its stored outcome."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return fn()
    deadline = time.monotonic() + reconnect_s
    conflicts = 0
    while True:
        try:
            with transaction.atomic():
                return fn()
        except DatabaseError as exc:
            if is_retryable_conflict(exc):
                conflicts += 1
                if conflicts >= attempts:
                    raise
                delay = RETRY_BASE_S * (2 ** (conflicts - 1)) * (0.5 + random.random())  # noqa: S311 - jitter
                logger.warning("transaction conflict (%s), retry %d/%d in %.0f ms", sqlstate(exc), conflicts,
                               attempts - 1, delay * 1000)
            elif database_unavailable(exc) and time.monotonic() < deadline:
                connection.close()  # the next attempt opens a new connection
                delay = RECONNECT_PAUSE_S * (0.5 + random.random())  # noqa: S311 - jitter
                logger.warning("database connection lost (%s), retrying in %.0f ms", exc, delay * 1000)
            else:
                raise
            time.sleep(delay)


@contextlib.contextmanager
def whole_transaction_unit() -> Iterator[None]:
    """Mark the code inside as running in a transaction that any exception rolls back entirely (the
    `@idempotent` view: the key claim, the work and the stored outcome are one unit, retried as a whole).
    Nested blocks opened with `atomic_nested()` then need no savepoint: nothing could be kept of a failed
    attempt anyway. Two statements (SAVEPOINT, RELEASE) less per payment."""
    previous = getattr(connection, "superapp_whole_unit", False)
    connection.superapp_whole_unit = True
    try:
        yield
    finally:
        connection.superapp_whole_unit = previous


def atomic_nested():
    """`transaction.atomic()` for a service's own unit of work; without a savepoint when it runs inside a
    `whole_transaction_unit()` (its failure aborts the enclosing transaction, which is rolled back anyway).
    A caller that catches the service's error and goes on writing must not be inside such a unit."""
    if connection.in_atomic_block and getattr(connection, "superapp_whole_unit", False):
        return transaction.atomic(savepoint=False)
    return transaction.atomic()


def retry_on_conflict(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of `run_in_transaction` for service functions that own their transaction."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        return run_in_transaction(lambda: fn(*args, **kwargs))

    return wrapper


@functools.cache
def _select_by_pk(model: type[Model], vendor: str, count: int, for_update: bool) -> tuple[str, list[str], list]:
    """The SELECT of `model`'s columns for `count` primary keys (ascending pk, optionally FOR UPDATE of only
    this table), its field names and each column's converters: what the ORM compiles, built once."""
    meta, ops = model._meta, connection.ops
    fields = list(meta.concrete_fields)
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    table, pk = ops.quote_name(meta.db_table), ops.quote_name(meta.pk.column)
    where = f"{pk} = %s" if count == 1 else f"{pk} IN ({', '.join(['%s'] * count)})"
    sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {pk}"  # noqa: S608 - names from the model
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    converters = []
    for field in fields:
        expression = field.get_col(meta.db_table)
        converters.append([(converter, expression) for converter in
                           ops.get_db_converters(expression) + field.get_db_converters(connection)])
    return sql, [field.attname for field in fields], converters


@functools.cache
def _select_by_pk_with(model: type[Model], vendor: str, count: int, other: type[Model]) -> tuple[str, int, int]:
    """`_select_by_pk`'s locking SELECT of `model`, each row also carrying one row of `other` (by its pk, a LEFT JOIN:
    NULLs when there is none); only `model`'s rows are locked. The SQL, the number of `model`'s columns and the
    position of `other`'s primary key among its columns."""
    ops = connection.ops
    meta, other_meta = model._meta, other._meta
    fields, other_fields = list(meta.concrete_fields), list(other_meta.concrete_fields)
    columns = ", ".join([*(f"a.{ops.quote_name(field.column)}" for field in fields),
                         *(f"o.{ops.quote_name(field.column)}" for field in other_fields)])
    pk = f"a.{ops.quote_name(meta.pk.column)}"
    where = f"{pk} = %s" if count == 1 else f"{pk} IN ({', '.join(['%s'] * count)})"
    sql = (f"SELECT {columns} FROM {ops.quote_name(meta.db_table)} a LEFT JOIN {ops.quote_name(other_meta.db_table)} "  # noqa: S608
           f"o ON o.{ops.quote_name(other_meta.pk.column)} = %s WHERE {where} ORDER BY {pk}")
    if connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF a"
    return sql, len(fields), other_fields.index(other_meta.pk)


def _instances(model: type[M], rows: list, start: int = 0, stop: int | None = None) -> list[M]:
    """Instances of `model` from the columns `start:stop` of each row (its concrete fields, in order)."""
    db = connections[DEFAULT_DB_ALIAS]  # once, not through the `connection` proxy per value
    _, names, converters = _select_by_pk(model, db.vendor, 1, False)
    instances = []
    for row in rows:
        values = list(row[start:stop])
        for position, column_converters in enumerate(converters):
            for converter, expression in column_converters:
                values[position] = converter(values[position], expression, db)
        instances.append(model.from_db(db.alias, names, values))
    return instances


def rows_by_pk_locked_with(model: type[M], pks, *, other: type[Model], other_pk) -> tuple[list[M], Model | None]:
    """`rows_by_pk(model, pks, for_update=True)` and, read in the same statement (one round trip less), the row of
    `other` with primary key `other_pk` (None if there is none), not locked. A test holds both equal to the ORM's."""
    pks = sorted(set(pks))
    if not pks:
        return [], None
    sql, width, other_pk_position = _select_by_pk_with(model, connection.vendor, len(pks), other)
    with connection.cursor() as cursor:
        cursor.execute(sql, [other_pk, *pks])
        rows = cursor.fetchall()
    # the other row's primary key is NULL when the join found no row
    joined = rows[:1] if rows and rows[0][width + other_pk_position] is not None else []
    return _instances(model, rows, 0, width), next(iter(_instances(other, joined, width)), None)


def rows_by_pk(model: type[M], pks, *, for_update: bool = False) -> list[M]:
    """Instances of `model` for the given primary keys, ascending by pk (missing ones are simply absent).
    `for_update` locks exactly these rows (no joined table) in pk order, the lock order of the ledger.
    Same values as `model.objects.filter(pk__in=pks).order_by("pk")`; a test holds the two equal."""
    pks = sorted(set(pks))
    if not pks:
        return []
    sql, _, _ = _select_by_pk(model, connection.vendor, len(pks), for_update)
    with connection.cursor() as cursor:
        cursor.execute(sql, pks)
        rows = cursor.fetchall()
    return _instances(model, rows)


def _insert_fields(model: type[Model]) -> list:
    meta = model._meta
    return [field for field in meta.concrete_fields if field not in meta.db_returning_fields]


# Field classes (exact) whose database value of a Python value of these exact types is that value: Django's
# `get_db_prep_save` of an int, str or bool there is int(v), str(v) or bool(v) (and the backends' integer adaptation
# is the identity), and of None is None. A payment row has 19 such values of 23; skipping their preparation saved
# ~50 us a payment. `tests/superapp/test_db_rows.py` holds the rows equal to the ORM's.
_INTEGER_FIELDS = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
                   models.PositiveBigIntegerField, models.PositiveSmallIntegerField, models.AutoField,
                   models.BigAutoField, models.SmallAutoField)
_PLAIN_VALUE_TYPES = {**dict.fromkeys(_INTEGER_FIELDS, int), models.CharField: str, models.TextField: str,
                      models.BooleanField: bool}


@functools.cache
def _plain_value_type(field) -> type | None:
    """The one Python type whose values `field` stores as they are (None: always prepare)."""
    if type(field) in (models.ForeignKey, models.OneToOneField):
        return int if type(field.target_field) in _INTEGER_FIELDS else None
    return _PLAIN_VALUE_TYPES.get(type(field))


def _insert_params(objs: list[Model], fields: list) -> list:
    """The values of unsaved instances for their INSERT, as `bulk_create` prepares them (field defaults and
    `pre_save`, e.g. auto_now_add, applied)."""
    params = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, True)
            if value is not None and type(value) is not _plain_value_type(field):
                value = field.get_db_prep_save(value, connection)
            params.append(value)
    return params


@functools.cache
def _insert_sql(model: type[Model], vendor: str, count: int, ignore_conflicts: bool,
                returning_column: str | None = None) -> tuple[str, list, bool]:
    meta, ops = model._meta, connection.ops
    fields = _insert_fields(model)
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    sql = (f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(meta.db_table)} ({columns}) "  # noqa: S608
           f"VALUES {', '.join([row] * count)} {ops.on_conflict_suffix_sql(fields, on_conflict, None, None)}")
    if returning_column is not None:  # ignore_conflicts: the rows actually inserted (PostgreSQL, SQLite >= 3.35)
        return f"{sql} RETURNING {ops.quote_name(meta.get_field(returning_column).column)}", fields, True
    returning = not ignore_conflicts and connection.features.can_return_rows_from_bulk_insert
    if returning:
        sql += f" RETURNING {ops.quote_name(meta.pk.column)}"
    return sql, fields, returning


def rows_insert(objs: list[M], *, ignore_conflicts: bool = False) -> list[M]:
    """INSERT unsaved instances of one model in one statement, like `bulk_create` (field defaults and
    `pre_save`, e.g. auto_now_add, applied; pks set unless `ignore_conflicts`), for the hot money path."""
    if not objs:
        return objs
    model = type(objs[0])
    sql, fields, returning = _insert_sql(model, connection.vendor, len(objs), ignore_conflicts)
    if not returning and not ignore_conflicts:
        raise NotImplementedError("rows_insert needs INSERT ... RETURNING (PostgreSQL, SQLite >= 3.35)")
    with connection.cursor() as cursor:
        cursor.execute(sql, _insert_params(objs, fields))
        pks = [row[0] for row in cursor.fetchall()] if returning else []
    for position, obj in enumerate(objs):
        if returning:
            obj.pk = pks[position]
        row_inserted(obj)
    return objs


def rows_insert_new(objs: list[Model], *, returning: str) -> list:
    """INSERT unsaved instances of one model in one statement, skipping rows that conflict with a stored one (or
    with an earlier row of the same statement), like `bulk_create(ignore_conflicts=True)`; returns the value of the
    field `returning` of each row actually inserted (e.g. the client ids of the events that were new), so the
    caller needs no read before it to tell new from already stored."""
    if not objs:
        return []
    sql, fields, _ = _insert_sql(type(objs[0]), connection.vendor, len(objs), True, returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, _insert_params(objs, fields))
        return [row[0] for row in cursor.fetchall()]


def bigint_array(values) -> list[Int8]:
    """Integers for a `CAST(%s AS bigint[])` parameter on PostgreSQL, sent as bigint[] whatever their size: psycopg
    would pick int2[], int4[] or int8[] by value, and each parameter type is another prepared statement."""
    return [Int8(value) for value in values]


def row_copy(obj: M) -> M:
    """A private copy of a stored row (field values only, no cached relations): `copy.copy` of a model instance
    costs ~15x more, and per-process caches hand one out on every payment."""
    clone = type(obj).__new__(type(obj))
    clone.__dict__ = {**obj.__dict__, "_state": ModelState()}
    clone._state.adding, clone._state.db = False, obj._state.db
    return clone


def row_inserted(obj: Model) -> None:
    """Mark an instance as stored (its pk already set), as `save()` leaves it."""
    obj._state.adding, obj._state.db = False, connection.alias


@functools.cache
def _row_insert_sql(model: type[Model], vendor: str, computed: tuple[tuple[str, str], ...]) -> tuple[str, list]:
    meta, ops = model._meta, connection.ops
    expressions = dict(computed)
    fields = _insert_fields(model)
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    values = ", ".join(expressions.get(field.attname, "%s") for field in fields)
    sql = (f"INSERT INTO {ops.quote_name(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608 - model names
           f"RETURNING {ops.quote_name(meta.pk.column)}")
    return sql, [field for field in fields if field.attname not in expressions]


def row_insert_sql(obj: Model, *, computed: dict[str, str]) -> tuple[str, list]:
    """The INSERT of one unsaved instance (`INSERT ... VALUES (...) RETURNING pk`) and its parameters, where the
    fields named in `computed` (attnames) take the given SQL expression instead of the instance's value, e.g. a
    foreign key from an earlier data-modifying CTE of the same statement (`{"ledger_transaction_id": "(SELECT
    id FROM txn)"}`). The caller runs it (inside its own statement) and then sets the pk and `row_inserted(obj)`.
    Same values as `rows_insert([obj])`."""
    sql, fields = _row_insert_sql(type(obj), connection.vendor, tuple(sorted(computed.items())))
    return sql, _insert_params([obj], fields)


def create_once(model: type[M], **fields) -> tuple[M, bool]:
    """Insert the row that a unique constraint on `fields` allows once, or fetch the one already there:
    `(row, created)`. The insert runs in a savepoint, so losing to an earlier or concurrent insert leaves the
    caller's transaction usable. Unlike `get_or_create` (a SELECT first) the usual case, a new row, is one query.
    For idempotent "add" actions (follow, like, save a merchant)."""
    try:
        with transaction.atomic():
            return model.objects.create(**fields), True
    except IntegrityError:
        return model.objects.get(**fields), False
