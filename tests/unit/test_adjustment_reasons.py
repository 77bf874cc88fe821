"""The adjustment reasons and the cycle count rule (stock/domain/adjustments.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qoima.entrypoints.web import i18n
from qoima.stock.domain import adjustments as rules


@given(reason=st.sampled_from(sorted(rules.REASONS)), direction=st.sampled_from([rules.ADD, rules.REMOVE]),
       quantity=st.integers(-5, 10**6))
def test_signed_delta_follows_the_reason_and_the_direction(reason, direction, quantity):
    r = rules.REASONS[reason]
    if direction not in r.directions:
        with pytest.raises(rules.AdjustmentRefused) as exc:
            rules.signed_delta(reason, direction, quantity)
        assert exc.value.field == "direction" and exc.value.code == "stock.reason_direction"
    elif quantity <= 0:
        with pytest.raises(rules.AdjustmentRefused) as exc:
            rules.signed_delta(reason, direction, quantity)
        assert exc.value.field == "quantity"
    else:
        delta = rules.signed_delta(reason, direction, quantity)
        assert abs(delta) == quantity and (delta > 0) == (direction == rules.ADD)


def test_unknown_reason_and_direction_are_refused_naming_the_field():
    with pytest.raises(rules.AdjustmentRefused) as exc:
        rules.signed_delta("stolen by aliens", rules.REMOVE, 1)
    assert exc.value.field == "reason"
    with pytest.raises(rules.AdjustmentRefused) as exc:
        rules.signed_delta("damaged", "sideways", 1)
    assert exc.value.field == "direction"


@given(counted=st.integers(-3, 50), on_hand=st.integers(0, 50), reserved=st.integers(0, 50))
def test_a_count_books_the_difference_unless_below_what_is_reserved(counted, on_hand, reserved):
    reserved = min(reserved, on_hand)
    count = rules.Count(counted, on_hand, reserved)
    if counted < 0 or counted < reserved:
        with pytest.raises(rules.AdjustmentRefused) as exc:
            rules.check_count(count)
        assert exc.value.field == "counted"
    else:
        assert on_hand + rules.check_count(count) == counted


@given(note=st.text(max_size=40))
def test_the_ledger_reason_splits_back_into_the_reason_and_its_note(note):
    for code, reason in rules.REASONS.items():
        listed, rest = rules.split_reason(rules.ledger_reason(code, note))
        assert listed is reason and rest == " ".join(note.split())
    assert rules.split_reason("transfer received") == (None, "transfer received")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_reason_label_and_refusal_is_translated(lang):
    catalog = {m.id for m in i18n.read_catalog(lang) if m.id}
    texts = [r.label for r in rules.REASONS.values()]
    texts += ["choose a reason from the list", "choose whether stock is added or removed",
              "“%(reason)s” only adds stock", "“%(reason)s” only removes stock", "quantity must be at least 1",
              "the counted quantity cannot be negative",
              "counted %(counted)s but %(reserved)s unit(s) are reserved for orders here; release them first"]
    assert set(texts) <= catalog
