"""Who is acting, and what they may see. A seller user sees only their seller;
staff (admin, manager, worker) see every seller of the operator."""

from __future__ import annotations

from dataclasses import dataclass

from qoima.platform.errors import Forbidden, NotFound

ROLES = ("admin", "manager", "worker", "seller")


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    email: str
    role: str
    seller_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "manager", "worker")

    def can_see(self, seller_id: int | None) -> bool:
        return self.is_staff or (seller_id is not None and seller_id == self.seller_id)

    def check_seller(self, seller_id: int | None) -> None:
        """404 rather than 403: a seller must not learn that another seller's record exists."""
        if not self.can_see(seller_id):
            raise NotFound("not found", code="access.not_found")

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden("this action needs the role %(roles)s; you are %(role)s", code="access.role_needed",
                            roles=list(roles), role=self.role)


SYSTEM = Principal(user_id=None, email="system", role="admin")
