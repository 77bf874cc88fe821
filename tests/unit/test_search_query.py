"""How a search query is read (orders/domain/search.py): order numbers with or without #,
phones in every local way of typing them (normalized exactly as stored phones are),
e-mails in any case, barcodes with separators, and the text for the case-insensitive matches."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from qoima.orders.domain.search import MIN_PART, classify
from qoima.platform.contacts import normalize_phone

# Kazakhstan mobile prefixes (700-708, 747, 771, 775-778)
PREFIXES = ["700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"]
subscriber = st.text(alphabet="0123456789", min_size=7, max_size=7)
sep = st.sampled_from(["", " ", "-", " - "])


@pytest.mark.parametrize("raw, expected", [
    ("25004", 25004), ("#25004", 25004), ("# 25004", 25004), ("  #7 ", 7), ("0", None), ("#", None),
    ("25004a", None), ("#-1", None), ("9" * 19, None), (str(2**63 - 1), 2**63 - 1),
])
def test_order_numbers(raw, expected):
    assert classify(raw).order_id == expected


@pytest.mark.parametrize("raw", ["8 701 123 45 67", "87011234567", "+77011234567", "+7 (701) 123-45-67",
                                 "8-701-123-45-67", "7011234567", "+7 701 1234567"])
def test_the_readme_phone_in_every_local_way(raw):
    assert classify(raw).phone == "+77011234567" == normalize_phone(raw)


@given(prefix=st.sampled_from(PREFIXES), rest=subscriber, s=sep, lead=st.sampled_from(["8", "+7", "7", "+7 ", "8 "]))
def test_a_phone_typed_any_way_is_the_stored_phone(prefix, rest, s, lead):
    national = prefix + rest
    stored = normalize_phone("+7" + national)  # how intake stores it
    typed = lead + (f"({prefix}) " if s == " " and lead.startswith("+") else prefix + s) + \
        s.join([rest[:3], rest[3:5], rest[5:]])  # 8 701 123 45 67, +7 (701) 123 45 67, 8-701-123-45-67 ...
    if lead == "7" and s:
        typed = "+" + typed  # "7 701 ..." without the plus is not a way people type it
    q = classify(typed)
    assert q.phone == stored == normalize_phone(typed)
    assert q.email is None


@given(st.integers(min_value=1, max_value=10**12), st.booleans(), st.sampled_from(["", " "]))
def test_any_order_number_with_or_without_hash(n, hashed, space):
    q = classify(("#" + space if hashed else "") + str(n))
    assert q.order_id == n
    assert "number" in q.kinds


@given(local=st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,15}", fullmatch=True),
       domain=st.from_regex(r"[A-Za-z]{2,10}\.(kz|com|ru)", fullmatch=True))
def test_an_email_in_any_case_is_lower_cased_as_stored(local, domain):
    q = classify(f"  {local}@{domain} ")
    assert q.email == f"{local}@{domain}".lower()
    assert q.phone is None and q.order_id is None


@pytest.mark.parametrize("raw, expected", [("4870000009015", "4870000009015"), ("487 0000 009015", "4870000009015"),
                                           ("4870-0000-09015", "4870000009015"), ("96385074", "96385074"),
                                           ("12345", None), ("48700000090151", "48700000090151")])
def test_barcodes(raw, expected):
    assert classify(raw).barcode == expected


@given(st.text(max_size=300))
def test_any_text_is_read_without_error_and_the_reading_is_stable(raw):
    q = classify(raw)
    assert q.text == q.text.strip().lower() and "  " not in q.text and len(q.text) <= 200
    again = classify(q.text)
    assert again.text == q.text
    assert (q.empty) == (q.kinds == ())
    if q.part is not None:
        assert len(q.part) >= MIN_PART


@pytest.mark.parametrize("raw", ["ARU", "aru-001", "Almaty", "Aigerim"])
def test_words_are_text_only(raw):
    q = classify(raw)
    assert q.kinds == ("text",) and q.text == raw.lower()


@pytest.mark.parametrize("raw, expected", [("3333333", "3333333"), ("123 45 67", "1234567"), ("25004", None),
                                           ("8 701 123 45 67", None), ("45-67", None), ("abc1234567", None)])
def test_a_part_of_a_phone_is_seven_digits_or_more_and_not_a_whole_phone(raw, expected):
    assert classify(raw).phone_part == expected
