"""What a scanner sent: a retail barcode, a GS1 string, a marking code, or plain text.

Scanners in keyboard-wedge mode are unreliable about three things, and `parse_scan` copes with
all of them:

- a symbology identifier in front (`]E0` EAN-13, `]C1` GS1-128, `]d2` GS1 DataMatrix, `]Q3` GS1
  QR, ...; ISO/IEC 15424 ``]`` + letter + modifier): taken off and returned as `symbology`;
- the group separator GS (ASCII 29) that ends a variable-length GS1 field: either sent as it is,
  sent as some other key (configure that string as `gs_substitute`, e.g. ``<GS>``, ``~``, ``|``),
  or dropped altogether;
- marking codes (Kazakhstan ISMET, Russia's Chestny ZNAK) lose their GS most often. Their layout
  is fixed: (01) GTIN-14, (21) serial, then a crypto tail: GS (91) 4-character key GS (92)
  44-character code, or GS (93) 4-character code for some goods (tobacco packs carry a
  (8005) 6-digit price before it and a 7-character serial). A code without its GS is split again
  from the end, where the tail's length is known, which leaves the serial whatever is before it
  (13 characters for most goods, 6 or 7 for some).

`biip` parses the GS1 element strings (check digits, AI table) once the GS are where they belong.
Kinds: ``gtin`` (EAN-8/UPC-A/EAN-13/GTIN-14 digits with a valid check digit), ``marking`` (a GS1
string with a serial and a crypto tail: `marking_code` is its canonical form, GS between fields,
no symbology prefix), ``gs1`` (another GS1 element string, e.g. GS1-128 with GTIN, lot and expiry,
or an SSCC with a GS1 symbology prefix: then `gtin` is None), ``text`` (a location barcode, a tote label, anything else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import biip

GS = "\x1d"
MAX_SCAN_LENGTH = 512
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_KEY_LEN, _CRYPTO_LEN, _SHORT_LEN = 4, 44, 4
GS1_SYMBOLOGIES = ("]C1", "]d2", "]Q3", "]e0", "]J1")  # GS1-128, GS1 DataMatrix, GS1 QR, DataBar, DotCode


@dataclass(frozen=True)
class Scan:
    raw: str
    kind: str  # "gtin" | "marking" | "gs1" | "text"
    gtin: str | None  # 14 digits normalized
    serial: str | None
    marking_code: str | None  # canonical marking code with GS (\x1d) separators
    symbology: str | None


def gtin_check_digit(payload: str) -> int:
    """GS1 check digit: weights 3,1,3,1,... from the rightmost data digit."""
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(payload)))
    return (10 - total % 10) % 10


def normalize_gtin(code: str) -> str | None:
    """EAN-8, UPC-A (12), EAN-13 or GTIN-14 digits with a valid check digit -> 14 digits; else None."""
    code = code.strip()
    if not code.isascii() or not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return None
    if gtin_check_digit(code[:-1]) != int(code[-1]):
        return None
    return code.zfill(14)


def gtin_matches(scan_gtin: str, barcode: str) -> bool:
    """Are these the same trade item? EAN-13 4601234567893, UPC-A and GTIN-14 04601234567893 are
    one item (a GTIN is the same number padded with zeros); a GTIN-14 with another packaging
    indicator (1-8 in front) is a case of them, not the item."""
    a, b = normalize_gtin(scan_gtin or ""), normalize_gtin(barcode or "")
    return a is not None and a == b


def marking_code(gtin14: str, serial: str, *, key: str | None = None, crypto: str | None = None,
                 short: str | None = None, price: str | None = None) -> str:
    """The canonical marking code: 01 GTIN 21 serial [GS 8005 price] GS 91 key GS 92 crypto,
    or GS 93 short."""
    out = f"01{gtin14}21{serial}"
    if price is not None:
        out += f"{GS}8005{price}"
    if short is not None:
        return out + f"{GS}93{short}"
    return out + f"{GS}91{key}{GS}92{crypto}"


def _text(raw: str, symbology: str | None) -> Scan:
    return Scan(raw, "text", None, None, None, symbology)


def _split_without_gs(body: str):
    """A marking code whose GS were dropped: (serial, key, crypto, short, price) or None.
    `body` is what follows 01 + GTIN-14 + 21."""
    n = len(body)
    tail = _KEY_LEN + _CRYPTO_LEN + 4  # "91" key "92" crypto
    s = n - tail
    if 1 <= s <= 20 and body[s:s + 2] == "91" and body[s + 2 + _KEY_LEN:s + 4 + _KEY_LEN] == "92":
        return body[:s], body[s + 2:s + 2 + _KEY_LEN], body[s + 4 + _KEY_LEN:], None, None
    s = n - (2 + _SHORT_LEN)
    if 1 <= s <= 30 and body[s:s + 2] == "93":
        serial, price = body[:s], None
        if len(serial) == 17 and serial[7:11] == "8005" and serial[11:].isdigit():
            serial, price = serial[:7], serial[11:]
        if len(serial) > 20:
            return None
        return serial, None, None, body[s + 2:], price
    return None


def _from_elements(raw: str, elements: dict[str, str], symbology: str | None) -> Scan:
    gtin = normalize_gtin(elements.get("01", ""))
    if gtin is None:
        return _text(raw, symbology)
    serial = elements.get("21")
    key, crypto, short = elements.get("91"), elements.get("92"), elements.get("93")
    if serial and (key and crypto or short):
        code = marking_code(gtin, serial, key=key if not short else None, crypto=crypto if not short else None,
                            short=short, price=elements.get("8005"))
        return Scan(raw, "marking", gtin, serial, code, symbology)
    return Scan(raw, "gs1", gtin, serial, None, symbology)


def _biip_elements(text: str) -> dict[str, str] | None:
    try:
        result = biip.parse(text)
    except (biip.BiipException, ValueError):  # pragma: no cover - biip reports errors in the result
        return None
    msg = result.gs1_message
    if msg is None:
        return None
    out: dict[str, str] = {}
    for es in msg.element_strings:
        if es.sscc_error or es.gtin_error:  # a wrong check digit: not a code we can trust
            return None
        out.setdefault(es.ai.ai, es.value)
    return out


def parse_scan(raw: str, gs_substitute: str | None = None) -> Scan:
    """Classify and normalise one scan (see the module doc). Never raises on odd input: what is
    not a barcode is kind "text"."""
    if not isinstance(raw, str):
        raise TypeError("raw must be a str")
    text = raw.strip(" \r\n\t")
    if len(text) > MAX_SCAN_LENGTH:
        return _text(raw, None)
    symbology = None
    m = _SYMBOLOGY.match(text)
    if m:
        symbology, text = m.group(0), text[3:]
    if gs_substitute:
        text = text.replace(gs_substitute, GS)
    text = text.lstrip(GS).rstrip(GS)  # a leading FNC1 sent as GS; a trailing one means nothing
    if not text:
        return _text(raw, symbology)
    gtin = normalize_gtin(text)
    if gtin is not None:
        return Scan(raw, "gtin", gtin, None, None, symbology)
    if not (len(text) > 16 and text.startswith("01") and text[2:16].isdigit()):
        if symbology in GS1_SYMBOLOGIES or GS in text:  # e.g. an SSCC on a GS1-128 pallet label
            elements = _biip_elements(text)
            if elements and "01" not in elements:
                return Scan(raw, "gs1", None, elements.get("21"), None, symbology)
            if elements:
                return _from_elements(raw, elements, symbology)
        return _text(raw, symbology)
    if GS not in text and text[16:18] == "21":
        split = _split_without_gs(text[18:])
        if split is not None:
            serial, key, crypto, short, price = split
            gtin = normalize_gtin(text[2:16])
            if gtin is None:
                return _text(raw, symbology)
            code = marking_code(gtin, serial, key=key, crypto=crypto, short=short, price=price)
            return Scan(raw, "marking", gtin, serial, code, symbology)
    elements = _biip_elements(text)
    if elements is None:
        return _text(raw, symbology)
    return _from_elements(raw, elements, symbology)
