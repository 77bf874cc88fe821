"""The pure rules of inbound deliveries (stock/domain/asn.py): discrepancies, status, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qoima.stock.domain import asn as rules

SKUS = st.sampled_from(["ARU-001", "ARU-002", "ARU-003", "BX-9", "ZZ-1"])
COUNTS = st.dictionaries(SKUS, st.integers(min_value=1, max_value=rules.LINE_QTY_MAX), max_size=5)
RECEIPTS = st.lists(st.dictionaries(SKUS, st.integers(min_value=0, max_value=1000), max_size=5), max_size=4)


@settings(deadline=None)  # a shared 2-core machine: timing is not the property
@given(COUNTS, RECEIPTS)
def test_discrepancies_are_exactly_the_lines_that_differ(expected, receipts):
    received = rules.merge(*receipts)
    diffs = rules.compare(expected, received)
    assert {d.sku for d in diffs} == set(expected) | set(received)
    for d in diffs:
        assert d.difference == received.get(d.sku, 0) - expected.get(d.sku, 0)
        assert (d.state == "ok") == (d.difference == 0)
        if d.sku not in expected and d.received:
            assert d.state == "unexpected"
        elif d.state == "short":
            assert 0 < d.received < d.expected
        elif d.state == "over":
            assert d.received > d.expected > 0
    assert rules.discrepancies(expected, received) == [d for d in diffs if d.difference]
    assert sum(received.values()) == sum(sum(r.values()) for r in receipts)


@settings(deadline=None)  # a shared 2-core machine: timing is not the property
@given(COUNTS, RECEIPTS)
def test_status_follows_from_the_totals(expected, receipts):
    received = {s: n for s, n in rules.merge(*receipts).items() if n}
    after = rules.status_after_receipt(expected, received)
    closed = rules.status_on_close(expected, received)
    exact = not rules.discrepancies(expected, received)
    assert (after == rules.RECEIVED) == exact and (closed == rules.RECEIVED) == exact
    if not exact:
        assert closed == rules.CLOSED_SHORT
        assert after == (rules.PARTIAL if received else rules.ANNOUNCED)
    assert closed in rules.FINAL


@settings(deadline=None)  # a shared 2-core machine: timing is not the property
@given(COUNTS, RECEIPTS)
def test_remaining_never_negative_and_reaches_zero_when_all_arrived(expected, receipts):
    received = rules.merge(*receipts)
    left = rules.remaining(expected, received)
    assert set(left) == set(expected) and all(n >= 0 for n in left.values())
    assert left == {s: max(0, e - received.get(s, 0)) for s, e in expected.items()}
    assert all(n == 0 for n in rules.remaining(expected, rules.merge(received, expected)).values())


@pytest.mark.parametrize("status,action,ok", [
    ("announced", "receive", True), ("partially_received", "receive", True), ("received", "receive", False),
    ("closed_with_discrepancies", "close", False), ("partially_received", "close", True),
    ("announced", "cancel", True), ("partially_received", "cancel", False), ("cancelled", "receive", False),
])
def test_actions_allowed_by_status(status, action, ok):
    if ok:
        rules.check_action(status, action)
    else:
        with pytest.raises(rules.TransitionRefused):
            rules.check_action(status, action)


@settings(deadline=None)  # a shared 2-core machine: timing is not the property
@given(st.one_of(st.integers(), st.text(max_size=15), st.floats(allow_nan=True), st.booleans(), st.none()))
def test_quantity_bounds_accept_exactly_0_to_a_million(raw):
    n = rules.parse_quantity(raw)
    problem = rules.quantity_problem(raw, "received", 3)
    assert (problem is None) == (n is not None and 0 <= n <= rules.LINE_QTY_MAX)
    if problem:
        assert problem.field == "lines[2].received" and problem.text.startswith("Line 3: the received quantity")


def test_line_problems_name_the_line_and_field():
    problems = rules.line_problems([("ARU-003", "2"), ("aru-003", "1"), ("X", "99999999999"), ("", "1")],
                                   "received")
    assert [(p.field, p.code) for p in problems] == [
        ("lines[1].sku", "stock.duplicate_sku"), ("lines[2].received", "stock.received_out_of_range"),
        ("lines[3].sku", "stock.sku_length")]
    assert problems[0].text == "Line 2: SKU aru-003 is already on line 1."
    zero = rules.line_problems([("A", "0"), ("B", "")], "received")
    assert [p.code for p in zero] == ["stock.nothing_received"]
    assert [p.code for p in rules.line_problems([("A", 0)], "expected")] == ["stock.expected_out_of_range"]
    long = rules.text_problems("x" * 5000, "")
    assert long[0].field == "supplier" and long[0].text == (
        "The supplier name must be at most 200 characters (it has 5000).")
    assert rules.normalize_sku(" aru-003 ") == rules.normalize_sku("ARU-003")
