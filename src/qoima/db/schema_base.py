"""What every table module shares: the naming convention, the metadata, the id type and the common columns."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
Id = BigInteger().with_variant(Integer, "sqlite")


def pk() -> Column:
    return Column("id", Id, primary_key=True, autoincrement=True)


def created() -> Column:
    return Column("created_at", DateTime, nullable=False)
