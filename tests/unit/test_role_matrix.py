"""The role matrix (platform/roles.py) and the order redaction (orders/domain/redaction.py), as pure rules."""

from __future__ import annotations

import copy

from qoima.orders.domain.redaction import redact_order
from qoima.platform import roles
from qoima.platform.access import ROLES


def test_every_rule_names_known_roles_and_the_admin_may_do_everything():
    for route, who in roles.RULES.items():
        assert who is roles.PUBLIC or (who and who <= set(ROLES)), route
        assert roles.allows("admin", *route), route
    for ability in roles.ABILITIES:
        assert roles.may("admin", ability)


def test_admin_only_things_stay_admin_only():
    for route in (("POST", "/api/v1/users"), ("POST", "/api/v1/outbox/{event_id}/replay"), ("GET", "/admin/users"),
                  ("POST", "/admin/users"), ("GET", "/admin/sellers"), ("POST", "/admin/sellers")):
        assert [r for r in ROLES if roles.allows(r, *route)] == ["admin"], route


def test_the_floor_sees_no_customers_no_money_and_neither_creates_cancels_nor_imports():
    for ability in (roles.SEE_CONTACTS, roles.SEE_MONEY, roles.CANCEL_ORDERS, *roles.IMPORTS.values()):
        assert not roles.may("worker", ability), ability
    for route, who in roles.RULES.items():
        path = route[1]
        if any(word in path for word in ("customers", "analytics", "import", "jobs", "loyalty")):
            assert not roles.allows("worker", *route), route
    assert not roles.allows("worker", "POST", "/api/v1/orders")
    assert not roles.allows("worker", "POST", "/api/v1/orders/{order_id}/cancel")
    for route in (("POST", "/api/v1/orders/{order_id}/transitions"), ("POST", "/api/v1/receipts"),
                  ("POST", "/api/v1/moves"), ("GET", "/api/v1/stock"), ("GET", "/orders/{order_id}")):
        assert roles.allows("worker", *route), route


def test_deny_by_default_and_public_routes():
    assert roles.rule("GET", "/api/v1/nowhere") is None and roles.rule("GET", None) is None
    assert not roles.allows("admin", "GET", "/api/v1/nowhere")
    assert "no rule" in roles.refusal("admin", "GET", "/api/v1/nowhere")
    assert roles.allows(None, "GET", "/healthz") and roles.allows(None, "POST", "/login")
    assert not roles.allows(None, "GET", "/orders")
    assert roles.allows("worker", "HEAD", "/orders")  # HEAD is GET
    assert roles.refusal("worker", "GET", "/api/v1/customers") == (
        "GET /api/v1/customers needs the role admin or manager or seller; you are worker")
    assert not roles.may("worker", "no such ability") and not roles.may(None, roles.SEE_MONEY)


ORDER = {"id": 7, "seller": "seller-a", "status": "allocated", "total": "3000.00", "currency": "KZT", "customer_id": 3,
         "customer": {"id": 3, "name": "Aigerim", "phone": "+77011234567", "email": "a@example.kz"},
         "delivery": {"type": "courier", "address": "Abay 1", "city": "Almaty", "lat": 43.2, "lon": 76.9},
         "lines": [{"id": 1, "sku": "SKU-1", "quantity": 2, "unit_price": "1500.00", "backordered": 0}],
         "reservations": [{"sku": "SKU-1", "warehouse": "ALA", "location": "A-01", "quantity": 2}]}


def test_redaction_hides_contacts_and_money_from_the_floor_only():
    original = copy.deepcopy(ORDER)
    for role in ("admin", "manager", "seller"):
        assert redact_order(ORDER, role) == ORDER
    seen = redact_order(ORDER, "worker")
    assert ORDER == original  # the input is left alone
    assert seen["customer"] is None and seen["customer_id"] is None and seen["total"] is None
    assert seen["delivery"] == {"type": "courier", "address": None, "city": "Almaty", "lat": None, "lon": None}
    assert seen["lines"] == [{"id": 1, "sku": "SKU-1", "quantity": 2, "unit_price": None, "backordered": 0}]
    assert seen["reservations"] == ORDER["reservations"] and seen["redacted"] == ["contacts", "money"]
    item = redact_order({"id": 7, "customer": "Aigerim", "total": "3000.00", "city": "Almaty"}, "worker")
    assert item == {"id": 7, "customer": None, "total": None, "city": "Almaty", "redacted": ["contacts", "money"]}
