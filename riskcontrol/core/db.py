"""Database engine, sessions, the declarative Base and a UTC datetime column type."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    FromClause,
    Insert,
    MetaData,
    Table,
    bindparam,
    cast,
    create_engine,
    event,
    insert,
    inspect,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from riskcontrol.core.errors import HiddenOutOfScope, NotFound
from riskcontrol.core.i18n import Phrase
from riskcontrol.core.private import private_file, sqlite_path

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model; constraint names follow one convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by us (below), not by the driver's implicit BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # SQLite cannot upgrade a reading transaction to a writing one once another writer has
    # committed (it fails at once instead of waiting), so every transaction takes the write lock
    # up front and waits its turn under busy_timeout. Writers serialise; none fails.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


INSERT_PAGE_ROWS = 20


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        if (path := sqlite_path(url)) is not None:
            private_file(path)  # created 0600 before SQLite creates it with the umask's mode
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # Many rows inserted at once (a batch of first steps: inbox items, outbox messages, deadlines) go
    # in statements of a few rows each: psycopg parses a statement's placeholders anew unless it has
    # at most 50, and parsing one of thousands cost more than the extra round trips (measured: a third
    # of the first step's processor time).
    kwargs.setdefault("insertmanyvalues_page_size", INSERT_PAGE_ROWS)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def missing_or_private(db: Session, model: type[Base], ident: int, *, message: Phrase, field: str) -> NotFound:
    """The 404 for a row the caller cannot see: the same answer either way, audited as a denial only
    when the row exists (its existence is private, the attempt is not)."""
    if db.get(model, ident) is None:
        return NotFound(message, field=field)
    return HiddenOutOfScope(message, field=field)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def row_values(row: Base) -> dict[str, Any]:
    """The column values set on an unsaved ORM row, by column name (None left out)."""
    state = inspect(row)
    return {
        prop.columns[0].name: state.dict[prop.key] for prop in state.mapper.column_attrs if state.dict.get(prop.key) is not None
    }


def insert_from_params(
    model: type[Base], prefix: str, columns: Iterable[str], computed: Mapping[str, ColumnElement[Any]], *sources: FromClause
) -> Insert:
    """`INSERT … SELECT` into the table of `model`: `columns` from typed parameters `<prefix>_<column>`, and the
    columns in `computed` from SQL over `sources` (e.g. an id another part of the statement made).

    Lets related rows go in together in one statement as data-modifying CTEs (PostgreSQL); the
    statement depends only on which columns are set, so it can be built once and reused."""
    table = model.__table__
    assert isinstance(table, Table)
    given = [key for key in columns if key not in computed]
    selected = [cast(bindparam(f"{prefix}_{key}", type_=table.c[key].type), table.c[key].type) for key in given]
    query = select(*selected, *computed.values())
    if sources:
        query = query.select_from(sources[0])
        for source in sources[1:]:
            query = query.join(source, true())
    return insert(table).from_select([*given, *computed], query)


def insert_new(
    db: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, object]],
    key_columns: Sequence[str],
    returning_column: InstrumentedAttribute[T],
) -> list[T]:
    """Insert the `rows` no one else inserted meanwhile (a row clashing on the unique `key_columns` is
    skipped, PostgreSQL or SQLite alike); `returning_column` of each row inserted."""
    if not rows:
        return []
    insert_into = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert_into(model).on_conflict_do_nothing(index_elements=list(key_columns)).returning(returning_column)
    return list(db.execute(stmt, list(rows)).scalars())
