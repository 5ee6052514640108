"""The DDL: the SQL files shipped with the package (tables, then the analyst views) and the DDL generated
from the declared schemas (`rtk_pipeline.schemas`) for the tables declared only in Python."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

import pyarrow as pa

from rtk_pipeline.schemas import JSON_COLUMNS, TS


def sql_dir() -> Traversable:
    """The `sql/` folder (shipped inside the package as `rtk_pipeline.sql`): tables first, then views."""
    return files("rtk_pipeline.sql")


def _sql_in(folder: Traversable) -> list[Traversable]:
    return sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)


def sql_files() -> list[Traversable]:
    """The DDL files in the order they apply: `sql/*.sql`, then `sql/views/*.sql`, each sorted by name."""
    return _sql_in(sql_dir()) + _sql_in(sql_dir() / "views")


def table_sql() -> list[str]:
    """The tables' DDL (`sql/*.sql`): the pipeline's state only."""
    return [path.read_text(encoding="utf-8") for path in _sql_in(sql_dir())]


def view_sql() -> list[str]:
    """The analyst views and macro (`sql/views/*.sql`): defined in the state and in the analysts' file."""
    return [path.read_text(encoding="utf-8") for path in _sql_in(sql_dir() / "views")]


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    TS: "TIMESTAMP WITH TIME ZONE",
}


def duckdb_type(field: pa.Field) -> str:
    """The DuckDB column type the DDL must declare for an Arrow field (JSON text columns are JSON)."""
    if field.name in JSON_COLUMNS and field.type == pa.string():
        return "JSON"
    return _DUCKDB_TYPES[field.type]


def create_table_sql(name: str, schema: pa.Schema, primary_key: str) -> str:
    """CREATE TABLE IF NOT EXISTS from an Arrow schema (for the tables declared only in Python)."""
    columns = [
        f'"{f.name}" {duckdb_type(f)}'
        + (" PRIMARY KEY" if f.name == primary_key else "")
        + ("" if f.nullable or f.name == primary_key else " NOT NULL")
        for f in schema
    ]
    return f'CREATE TABLE IF NOT EXISTS "{name}" (\n    ' + ",\n    ".join(columns) + "\n)"
