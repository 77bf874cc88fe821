"""The replay rules of orders/domain/replay.py: what a request for an existing order is."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from qoima.orders.domain import replay
from qoima.orders.schemas import OrderIn
from qoima.platform.errors import Conflict

LINE = st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(1, 5),
                 st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False))


@given(st.lists(LINE, max_size=4), st.lists(LINE, max_size=4))
def test_lines_differ_exactly_when_some_line_differs(a, b):
    diff = replay.line_differences(a, b)
    same = len(a) == len(b) and all(x[0] == y[0] and x[1] == y[1] and Decimal(x[2]) == Decimal(y[2])
                                    for x, y in zip(a, b))
    assert (diff == []) == same
    assert all(1 <= d["line"] <= max(len(a), len(b)) for d in diff)


def test_a_price_written_differently_is_the_same_price():
    assert replay.line_differences([("A", 1, Decimal("1500.00"))], [("A", 1, Decimal("1500"))]) == []


def order(**kw) -> OrderIn:
    return OrderIn(**{"channel": "api", "external_id": "E-1", "lines": [{"sku": "A", "quantity": 1,
                                                                            "unit_price": "10"}], **kw})


def test_the_fingerprint_reads_the_order_not_its_spelling():
    assert replay.fingerprint(order()) == replay.fingerprint(order(seller="shop"))  # the key is the seller's
    assert replay.fingerprint(order()) == replay.fingerprint(order(delivery={"type": "courier"}))  # the default
    assert replay.fingerprint(order()) != replay.fingerprint(order(external_id="E-2"))
    assert replay.fingerprint(order()) != replay.fingerprint(
        order(lines=[{"sku": "A", "quantity": 2, "unit_price": "10"}]))


def test_check_rules():
    fp = replay.fingerprint(order())
    replay.check(1, key="k", stored_key="k", stored_fingerprint=fp, request_fingerprint=fp, differences=[])
    replay.check(1, key="k", stored_key="k", stored_fingerprint=None, request_fingerprint="x", differences=[])
    with pytest.raises(replay.KeyReused) as info:
        replay.check(1, key="k", stored_key="k", stored_fingerprint=fp, request_fingerprint="x", differences=[])
    assert info.value.status == 422 and info.value.field == "Idempotency-Key"
    diff = [{"line": 1, "field": "quantity", "stored": "1", "requested": "2"}]
    with pytest.raises(Conflict) as info:
        replay.check(1, key=None, stored_key=None, stored_fingerprint=None, request_fingerprint=fp, differences=diff)
    assert info.value.extra["differences"] == diff
    # found by its key, the key decides: the lines are compared only for a channel order id
    replay.check(1, key="k", stored_key="k", stored_fingerprint=None, request_fingerprint=fp, differences=diff)
