"""Barcodes (GS1 check digit) and customer contacts (E.164 phones, e-mails)."""

from __future__ import annotations

import pytest

from qoima.catalog.domain.barcodes import barcode_kind, check_digit, normalize_barcode
from qoima.platform.contacts import normalize_channel, normalize_email, normalize_language, normalize_phone
from qoima.platform.errors import ValidationError


def gs1_check(data: str) -> str:
    """The rule from the design brief, written independently of the product code:
    weights 3,1,3,1... from the rightmost data digit; check = (10 - sum mod 10) mod 10."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return str((10 - total % 10) % 10)


# --- barcodes ---------------------------------------------------------------

VALID = {
    "4870000009015": "EAN-13",  # GS1 Kazakhstan prefix 487
    "4006381333931": "EAN-13",
    "5901234123457": "EAN-13",
    "00012345600012": "GTIN-14",
    "10614141000415": "GTIN-14",
    "96385074": "EAN-8",
    "036000291452": "UPC-A",
}


@pytest.mark.parametrize("code,kind", VALID.items())
def test_valid_codes_pass_unchanged(code, kind):
    assert gs1_check(code[:-1]) == code[-1]  # the examples themselves are right
    assert normalize_barcode(code) == code
    assert barcode_kind(code) == kind


@pytest.mark.parametrize("data", ["487000000901", "400638133393", "1061414100041", "0001234560001", "9638507"])
def test_check_digit_matches_the_gs1_rule(data):
    assert check_digit(data) == gs1_check(data)


def test_spaces_and_dashes_are_separators():
    assert normalize_barcode(" 4870 0000 0901 5 ") == "4870000009015"
    assert normalize_barcode("487-0000-00901-5") == "4870000009015"


def test_a_wrong_check_digit_with_dashes_still_names_the_expected_digit():
    with pytest.raises(ValidationError) as info:
        normalize_barcode("487-0000-00901-6")
    assert "expected 5, got 6" in info.value.message
    assert "4870000009016" in info.value.message  # shown without the separators
    with pytest.raises(ValidationError) as info:
        normalize_barcode("487-0000-0090")
    assert "has 11 digits" in info.value.message


@pytest.mark.parametrize("code,expected", [("4870000009016", "5"), ("4870000009010", "5"), ("10614141000410", "5"),
                                           ("00012345600019", "2")])
def test_wrong_check_digit_names_the_expected_digit(code, expected):
    with pytest.raises(ValidationError) as info:
        normalize_barcode(code, field="barcodes[0]")
    msg = info.value.message
    assert f"expected {expected}" in msg and f"got {code[-1]}" in msg
    assert "check digit" in msg and code in msg
    assert info.value.field == "barcodes[0]"
    assert info.value.status == 422


@pytest.mark.parametrize("code", ["48700000090", "1234567", "123456789012345", "4870000009", "1"])
def test_wrong_length_says_how_many_digits(code):
    with pytest.raises(ValidationError) as info:
        normalize_barcode(code)
    assert f"has {len(code)} digits" in info.value.message
    assert "EAN-13 has 13" in info.value.message and "GTIN-14 has 14" in info.value.message


def test_fourteen_digits_with_wrong_check_is_a_check_digit_error_not_a_length_error():
    with pytest.raises(ValidationError) as info:
        normalize_barcode("48700000090150")
    assert "check digit" in info.value.message


@pytest.mark.parametrize("code", ["487000000901A", "ABCDEFGHIJKLM", "4870000O09015", "487000000901.5"])
def test_letters_and_symbols_are_refused(code):
    with pytest.raises(ValidationError) as info:
        normalize_barcode(code)
    assert "digits only" in info.value.message


@pytest.mark.parametrize("code", ["", "   ", None])
def test_empty_barcode(code):
    with pytest.raises(ValidationError) as info:
        normalize_barcode(code)
    assert info.value.message == "barcode is empty"


# --- phones -----------------------------------------------------------------

@pytest.mark.parametrize("raw", ["8 701 123 45 67", "87011234567", "8 (701) 123-45-67", "+7 701 123 45 67",
                                 "+7-701-123-45-67", "+77011234567", "7011234567", "  +7 (701) 123 4567  ",
                                 "8-701-123-45-67"])
def test_kazakh_mobile_numbers_normalize_to_e164(raw):
    assert normalize_phone(raw) == "+77011234567"


def test_other_countries_keep_their_code():
    assert normalize_phone("+380 67 123 4567") == "+380671234567"  # Ukraine
    assert normalize_phone("+7 (495) 123-45-67") == "+74951234567"  # Moscow landline
    assert normalize_phone("067 123 4567", default_region="UA") == "+380671234567"


@pytest.mark.parametrize("raw", ["12345", "abc", "+7 000 000 00 00", "8 701 123", "+7701123456789", "phone"])
def test_invalid_phones_are_refused_naming_the_field(raw):
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.field == "customer.phone"
    assert raw in info.value.message


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_phone_is_none(raw):
    assert normalize_phone(raw) is None


# --- e-mail -----------------------------------------------------------------

def test_email_is_lower_cased():
    assert normalize_email("Aigerim.N@Example.KZ") == "aigerim.n@example.kz"
    assert normalize_email("  dana@mail.ru ") == "dana@mail.ru"


@pytest.mark.parametrize("raw", ["bad", "a@b", "x@@y.kz", "a b@x.kz", "@example.kz", "aigerim@", "a@.kz"])
def test_invalid_emails_are_refused(raw):
    with pytest.raises(ValidationError) as info:
        normalize_email(raw)
    assert info.value.field == "customer.email"
    assert f"e-mail '{raw}' is not valid" in info.value.message


def test_site_local_domains_only_for_staff_logins():
    with pytest.raises(ValidationError):
        normalize_email("admin@qoima.local")
    assert normalize_email("Admin@Qoima.Local", internal=True) == "admin@qoima.local"
    with pytest.raises(ValidationError):
        normalize_email("not an email.local", internal=True)


@pytest.mark.parametrize("raw", [None, ""])
def test_missing_email_is_none(raw):
    assert normalize_email(raw) is None


def test_language_and_channel():
    assert normalize_language(None) == "ru" and normalize_language(" KK ") == "kk"
    assert normalize_channel(None) == "sms" and normalize_channel("Telegram") == "telegram"
    with pytest.raises(ValidationError) as info:
        normalize_language("de")
    assert info.value.field == "customer.language"
    with pytest.raises(ValidationError) as info:
        normalize_channel("pigeon")
    assert info.value.field == "customer.preferred_channel"
