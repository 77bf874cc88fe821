"""PL/pgSQL functions kept as versioned `.sql` files in db/sql/ (package data).

A file holds one `CREATE OR REPLACE FUNCTION <name>(...) ... AS $fn$ <body> $fn$;`.
A migration installs it with `install(op, name)`; the tests compare the body
that PostgreSQL holds (pg_proc.prosrc) with `body(name)`."""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
MARK = "$fn$"


def source(name: str) -> str:
    """The whole CREATE statement of db/sql/<name>.sql."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def body(name: str) -> str:
    """The function's body as PostgreSQL stores it (between the $fn$ marks)."""
    text = source(name)
    start = text.index(MARK) + len(MARK)
    return text[start:text.index(MARK, start)]
