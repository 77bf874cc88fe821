"""Scanner input: GTINs, GS1 strings and marking codes, with and without their GS."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qoima.floor.domain.scans import (
    GS, gtin_check_digit, gtin_matches, marking_code, normalize_gtin, parse_scan)

GTIN = "04601234567893"  # EAN-13 4601234567893 with its check digit
# the GS1 character set 82 (what a serial and a crypto tail may hold)
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def test_check_digit_and_normalisation():
    assert gtin_check_digit("460123456789") == 3
    assert normalize_gtin("4601234567893") == GTIN
    assert normalize_gtin("4601234567890") is None  # wrong check digit
    assert normalize_gtin("96385074") == "00000096385074"  # EAN-8
    assert normalize_gtin("036000291452") == "00036000291452"  # UPC-A


def test_gtin_matches_across_formats():
    assert gtin_matches(GTIN, "4601234567893")
    assert gtin_matches("4601234567893", "04601234567893")
    assert gtin_matches("00036000291452", "036000291452")
    assert not gtin_matches("14601234567890", "4601234567893")  # a case of 10, not the item
    assert not gtin_matches(GTIN, "4601234567894")
    assert not gtin_matches("", "")


@pytest.mark.parametrize("raw,symbology", [
    ("4601234567893", None), ("]E04601234567893", "]E0"), ("04601234567893\r\n", None), ("]C004601234567893", "]C0"),
])
def test_retail_barcodes(raw, symbology):
    s = parse_scan(raw)
    assert (s.kind, s.gtin, s.symbology, s.serial) == ("gtin", GTIN, symbology, None)


REAL = f"0104601234567893215Kq3'E;%p9Ej5{GS}91EE10{GS}92" + "dGVzdGNyeXB0b3RhaWxmb3JjaGVzdG55em5ha2tvZGU="[:44]


def test_marking_code_with_gs_and_prefix():
    for raw in (REAL, "]d2" + REAL, GS + REAL, "]Q3" + REAL):
        s = parse_scan(raw)
        assert s.kind == "marking"
        assert s.gtin == GTIN
        assert s.serial == "5Kq3'E;%p9Ej5"
        assert s.marking_code == REAL
    assert parse_scan("]d2" + REAL).symbology == "]d2"


@pytest.mark.parametrize("sub", ["<GS>", "~", "|", "@@"])
def test_marking_code_with_a_substitute(sub):
    s = parse_scan("]d2" + REAL.replace(GS, sub), gs_substitute=sub)
    assert s.kind == "marking" and s.marking_code == REAL


def test_marking_code_without_gs_is_rebuilt():
    s = parse_scan("]d2" + REAL.replace(GS, ""))
    assert (s.kind, s.serial, s.marking_code) == ("marking", "5Kq3'E;%p9Ej5", REAL)


def test_short_tail_and_tobacco_pack():
    short = f"0104601234567893213AbC12x{GS}93dGVz"
    assert parse_scan(short).marking_code == short
    assert parse_scan(short.replace(GS, "")).marking_code == short
    assert parse_scan(short.replace(GS, "")).serial == "3AbC12x"
    pack = f"0104601234567893213AbC12x{GS}8005012345{GS}93dGVz"
    s = parse_scan(pack.replace(GS, ""))
    assert (s.kind, s.serial, s.marking_code) == ("marking", "3AbC12x", pack)
    assert parse_scan(pack).marking_code == pack


def test_gs1_128_and_text():
    s = parse_scan(f"]C101046012345678931725123110LOT-7{GS}21SER42")
    assert (s.kind, s.gtin, s.serial, s.marking_code, s.symbology) == ("gs1", GTIN, "SER42", None, "]C1")
    sscc = parse_scan("]C100046012345000000012")
    assert (sscc.kind, sscc.gtin, sscc.symbology) == ("gs1", None, "]C1")
    assert parse_scan("00046012345000000012").kind == "text"  # without a GS1 prefix: digits only
    assert parse_scan("]C100046012345000000016").kind == "text"  # wrong check digit
    for raw in ("A-01-02-3", "TOTE-0042", "", "   ", "4601234567890", "01046012345678", "ÿ\x00", "01" + "9" * 40):
        assert parse_scan(raw).kind == "text"
    assert parse_scan("x" * 5000).kind == "text"


serials = st.text(alphabet=CSET82, min_size=1, max_size=20)
keys = st.text(alphabet=CSET82, min_size=4, max_size=4)
cryptos = st.text(alphabet=CSET82, min_size=44, max_size=44)
gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(lambda p: p + str(gtin_check_digit(p)))


@settings(max_examples=300, deadline=None)
@given(gtins, st.one_of(st.text(alphabet=CSET82, min_size=13, max_size=13), serials), keys, cryptos,
       st.sampled_from(["", "]d2", "]C1", "]Q3"]), st.sampled_from([None, "<GS>", "~", "|"]))
def test_round_trip_drop_the_gs_and_rebuild(gtin, serial, key, crypto, prefix, sub):
    code = marking_code(gtin, serial, key=key, crypto=crypto)
    # as sent with its GS (as GS or a configured substitute) ...
    sent = prefix + (code.replace(GS, sub) if sub else code)
    with_gs = parse_scan(sent, gs_substitute=sub)
    # ... and with the GS dropped by the scanner
    without = parse_scan(prefix + code.replace(GS, ""), gs_substitute=sub)
    for s in (with_gs, without):
        assert s.kind == "marking", s
        assert (s.gtin, s.serial, s.marking_code) == (gtin, serial, code)
        assert s.symbology == (prefix or None)


@settings(max_examples=200, deadline=None)
@given(gtins, st.text(alphabet=CSET82, min_size=6, max_size=13), st.text(alphabet=CSET82, min_size=4, max_size=4))
def test_round_trip_short_tail(gtin, serial, short):
    code = marking_code(gtin, serial, short=short)
    for sent in (code, code.replace(GS, "")):
        s = parse_scan(sent)
        assert (s.kind, s.serial, s.marking_code) == ("marking", serial, code)


@given(st.text(max_size=80))
def test_never_raises(text):
    s = parse_scan(text)
    assert s.kind in ("gtin", "marking", "gs1", "text") and s.raw == text


def test_real_symbols_printed_and_decoded_with_zxing():
    """Print a GS1 DataMatrix, a GS1-128 and an EAN-13 with zxing-cpp, decode them as a scanner
    would (symbology identifier + data), and parse what comes out."""
    import zxingcpp

    def scan(content: str, fmt, **kw) -> str:
        img = zxingcpp.create_barcode(content, fmt, **kw).to_image(scale=4)
        (b,) = zxingcpp.read_barcodes(img, text_mode=zxingcpp.TextMode.Plain)
        return b.symbology_identifier + b.text

    crypto = "dGVzdGNyeXB0b3RhaWxmb3JjaGVzdG55em5ha2tvZGU+"  # 44 characters of a crypto tail
    sent = scan(f"(01){GTIN}(21)5Kq3E;%p9Ej5(91)EE10(92){crypto}", zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    # zxing-cpp reports the modifier it saw (]d2, or ]d8 for some encodations): any Data Matrix prefix
    assert sent.startswith("]d") and GS in sent
    expected = marking_code(GTIN, "5Kq3E;%p9Ej5", key="EE10", crypto=crypto)
    for raw, sub in ((sent, None), (sent.replace(GS, ""), None), (sent.replace(GS, "<GS>"), "<GS>")):
        s = parse_scan(raw, gs_substitute=sub)
        assert (s.kind, s.gtin, s.serial, s.marking_code, s.symbology) == (
            "marking", GTIN, "5Kq3E;%p9Ej5", expected, sent[:3])
    sent = scan(f"(01){GTIN}(17)271231(10)LOT-7", zxingcpp.BarcodeFormat.Code128, gs1=True)
    s = parse_scan(sent)
    assert (s.kind, s.gtin, s.symbology) == ("gs1", GTIN, "]C1")
    sent = scan("4601234567893", zxingcpp.BarcodeFormat.EAN13)
    s = parse_scan(sent)
    assert (s.kind, s.gtin, s.symbology) == ("gtin", GTIN, "]E0")
