"""The bulk writer of the charging path: rows as dictionaries or as tuples of named columns
reach the database the same, converted as SQLAlchemy would convert them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)

from famsim.adapters.sql.bulk import compile_bulk
from famsim.adapters.sql.schema import UtcDateTime

_META = MetaData()
_THINGS = Table(
    "things",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("doc", JSON, nullable=False),
)
_AT = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def _engine() -> Engine:
    engine = create_engine("sqlite://")
    _META.create_all(engine)
    return engine


def test_tuples_and_dictionaries_store_the_same_rows() -> None:
    engine = _engine()
    columns = ("id", "name", "flag", "at", "doc")
    statement = compile_bulk(insert(_THINGS), engine.dialect, columns)
    with engine.begin() as connection:
        statement.execute(
            connection, [{"id": 1, "name": "a", "flag": True, "at": _AT, "doc": {"x": [1]}}]
        )
        written = statement.execute_tuples(
            connection, columns, [(2, "b", False, _AT, {"x": [2]}), (3, "c", True, _AT, {})]
        )
        assert written == 2
        rows = connection.execute(select(_THINGS).order_by(_THINGS.c.id)).all()
    assert [tuple(r) for r in rows] == [
        (1, "a", True, _AT, {"x": [1]}),
        (2, "b", False, _AT, {"x": [2]}),
        (3, "c", True, _AT, {}),
    ]


def test_tuples_in_another_order_than_the_statement_are_picked_into_its_order() -> None:
    engine = _engine()
    columns = ("id", "name", "flag", "at", "doc")
    with engine.begin() as connection:
        compile_bulk(insert(_THINGS), engine.dialect, columns).execute_tuples(
            connection, columns, [(1, "a", True, _AT, {}), (2, "b", True, _AT, {})]
        )
        # SET name first, WHERE id last: the statement's order is not the rows' order
        renaming = compile_bulk(
            update(_THINGS)
            .where(_THINGS.c.id == bindparam("id"))
            .values(name=bindparam("name"), flag=bindparam("flag")),
            engine.dialect,
        )
        updated = renaming.execute_tuples(
            connection, ("id", "flag", "name"), [(2, False, "z"), (9, False, "none")]
        )
        assert updated == 1  # the count of rows touched tells a missing row
        rows = connection.execute(select(_THINGS.c.id, _THINGS.c.name, _THINGS.c.flag)).all()
    assert sorted(tuple(r) for r in rows) == [(1, "a", True), (2, "z", False)]
