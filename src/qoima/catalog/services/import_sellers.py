"""Seller codes of an import file -> ids, with the principal's right to act for them; the
messages are the one seller rule's (catalog/domain/sellers.py), as on every other path."""

from __future__ import annotations

from sqlalchemy import select

from qoima.catalog.domain.sellers import seller_problem
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import DomainError
from qoima.platform.unit_of_work import UnitOfWork


class Sellers:
    """Seller codes -> ids, with the principal's right to act for them."""

    def __init__(self, uow: UnitOfWork, principal: Principal):
        self.principal = principal
        self.by_code = {r.code: r.id for r in uow.execute(select(t.sellers.c.code, t.sellers.c.id))}
        self.code_of = {v: k for k, v in self.by_code.items()}

    def resolve(self, code: str) -> tuple[int | None, str | None, "DomainError | None"]:
        """(seller_id, code, error message)."""
        sid = self.by_code.get(code) if code else self.principal.seller_id
        problem = seller_problem(code, sid, sid is not None and self.principal.can_see(sid))
        if problem is not None:
            return None, None, problem  # a DomainError: the report keeps its code
        return sid, code or self.code_of.get(sid), None
