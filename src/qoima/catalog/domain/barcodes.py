"""Product barcodes: EAN-13, EAN-8, UPC-A and GTIN-14 with the GS1 check digit.

Validation is delegated to python-stdnum (`stdnum.ean`), which implements the
GS1 modulo-10 rule (weights 3,1,3,1... from the rightmost data digit).
"""

from __future__ import annotations

from stdnum import ean
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError as StdnumError

from qoima.platform.errors import ValidationError

_KINDS = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}


def check_digit(data: str) -> str:
    """GS1 check digit for the data digits (without the check digit)."""
    return ean.calc_check_digit(data)


def normalize_barcode(code: str, field: str = "barcode") -> str:
    """Return the barcode without spaces or dashes, or raise a ValidationError saying what is wrong."""
    raw = (code or "").strip().replace(" ", "").replace("-", "")  # the separators stdnum also accepts
    if not raw:
        raise ValidationError("barcode is empty", field=field, code="catalog.barcode_empty")
    try:
        value = ean.validate(raw)
    except InvalidChecksum:
        expected = check_digit(raw[:-1]) if raw[:-1].isdigit() else "?"
        raise ValidationError(
            "barcode %(barcode)s has a wrong check digit (expected %(expected)s, got %(got)s)", field=field,
            code="catalog.barcode_check_digit", barcode=raw, expected=expected, got=raw[-1]) from None
    except InvalidLength:
        raise ValidationError(
            "barcode %(barcode)s has %(digits)s digits; EAN-13 has 13, GTIN-14 has 14 (EAN-8 8, UPC-A 12)",
            field=field, code="catalog.barcode_length", barcode=raw, digits=len(raw)) from None
    except (InvalidFormat, StdnumError):
        raise ValidationError("barcode %(barcode)s must contain digits only", field=field,
                              code="catalog.barcode_digits", barcode=raw) from None
    return value


def barcode_kind(code: str) -> str:
    return _KINDS.get(len(code), "GTIN")
