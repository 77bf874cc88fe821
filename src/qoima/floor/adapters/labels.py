"""Shipping labels: ZPL for thermal printers and PDF, both 4x6 in / 100x150 mm.

ZPL is written by hand: a label is a few dozen commands, and a library would hide exactly the
details that matter here. The label is 812 x 1218 dots (4 x 6 in at 203 dpi, ``^PW``/``^LL``):

- ``^CI28``: field data is UTF-8;
- Cyrillic (and Kazakh) names need a font that has the glyphs: Zebra's built-in font 0 has none.
  The label refers to the TrueType font ``E:DEJAVU.TTF`` through the alias ``^CWZ`` and prints
  text with ``^AZN,h,w``. The font is put on the printer once, with the ``~DY`` command from
  `printer_font_zpl()` (DejaVu Sans, shipped in floor/adapters/fonts with its license). Sending it
  with every label would be ~1.5 MB a label.
- every text field goes through ``^FH_``: ``^``, ``~`` and ``_`` (and nothing else) are sent as
  hex escapes (``_5E``, ``_7E``, ``_5F``), so a name cannot inject a command;
- the tracking number is a Code 128 (``^BC``, interpretation line below), module width 3 dots, or
  2 when a long number would not fit the width;
- ``^FB`` blocks wrap the address and clip it to its lines.

The PDF (ReportLab) draws the same content on a 100 x 150 mm page with DejaVu Sans embedded (so
any viewer shows the Cyrillic) and ReportLab's Code 128 of the tracking number.
"""

from __future__ import annotations

import binascii
import io
import re
from dataclasses import dataclass
from pathlib import Path

from qoima.platform.errors import ValidationError

FONTS = Path(__file__).resolve().parent / "fonts"
FONT_REGULAR = FONTS / "DejaVuSans.ttf"
FONT_BOLD = FONTS / "DejaVuSans-Bold.ttf"
ZPL_FONT = "E:DEJAVU.TTF"

DOTS_W, DOTS_H = 812, 1218
TRACKING_RE = re.compile(r"^[A-Za-z0-9\-./ ]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TEXT_LIMITS = {"order_number": 64, "carrier": 64, "recipient_name": 200, "recipient_phone": 32,
               "address": 500, "city": 100, "seller_name": 200, "warehouse": 200}


@dataclass(frozen=True)
class LabelData:
    tracking: str
    order_number: str
    carrier: str
    recipient_name: str
    recipient_phone: str
    address: str
    city: str
    weight_g: int
    parcel_no: int
    parcel_count: int
    seller_name: str
    warehouse: str


def _validate(d: LabelData) -> None:
    if not isinstance(d.tracking, str) or not TRACKING_RE.match(d.tracking):
        raise ValidationError("tracking must be 1 to 40 letters, digits, spaces or -./", field="tracking",
                              code="floor.bad_tracking")
    for name, limit in TEXT_LIMITS.items():
        value = getattr(d, name)
        if not isinstance(value, str) or len(value) > limit:
            raise ValidationError(f"{name} must be text of at most {limit} characters", field=name,
                                  code="floor.text_too_long", max=limit)
    for name, lo, hi in (("weight_g", 0, 10_000_000), ("parcel_no", 1, 999), ("parcel_count", 1, 999)):
        value = getattr(d, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValidationError(f"{name} must be between {lo} and {hi}", field=name, code="floor.out_of_range",
                                  min=lo, max=hi)
    if d.parcel_no > d.parcel_count:
        raise ValidationError("parcel_no must not exceed parcel_count", field="parcel_no",
                              code="floor.parcel_no_too_big")


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def kg(weight_g: int) -> str:
    return f"{weight_g / 1000:.3f}".rstrip("0").rstrip(".") if weight_g % 1000 else str(weight_g // 1000)


# ---------------------------------------------------------------- ZPL

def zpl_escape(text: str) -> str:
    """Field data for ``^FH_``: the three special characters as hex, controls as spaces."""
    return _clean(text).replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def _text(x: int, y: int, h: int, text: str, width: int | None = None, lines: int = 1) -> str:
    block = f"^FB{width},{lines},4,L,0" if width else ""
    return f"^FO{x},{y}^AZN,{h},{h}{block}^FH_^FD{zpl_escape(text)}^FS"


def code128_modules(data: str) -> int:
    """Modules of a Code 128 symbol in code set B (start, data, check, stop)."""
    return 11 * (len(data) + 2) + 13


def shipping_label_zpl(d: LabelData) -> str:
    """The label as ZPL (UTF-8 text; send it as UTF-8 bytes). Needs the font of `printer_font_zpl`."""
    _validate(d)
    module = 3 if code128_modules(d.tracking) * 3 <= DOTS_W - 80 else 2
    bar_x = max(20, (DOTS_W - code128_modules(d.tracking) * module) // 2)
    parts = [
        "^XA", "^CI28", f"^CWZ,{ZPL_FONT}", f"^PW{DOTS_W}", f"^LL{DOTS_H}", "^LH0,0",
        _text(40, 40, 56, d.carrier, 520, 1),
        _text(600, 40, 56, f"{d.parcel_no}/{d.parcel_count}", 180, 1),
        "^FO30,120^GB752,4,4^FS",
        _text(40, 140, 28, "Получатель / Recipient"),
        _text(40, 180, 44, d.recipient_name, 732, 2),
        _text(40, 290, 36, d.recipient_phone, 732, 1),
        _text(40, 340, 34, d.address, 732, 3),
        _text(40, 480, 40, d.city, 732, 1),
        "^FO30,540^GB752,4,4^FS",
        f"^FO{bar_x},580^BY{module}^BCN,220,Y,N,N^FH_^FD{zpl_escape(d.tracking)}^FS",
        "^FO30,880^GB752,4,4^FS",
        _text(40, 905, 34, f"Заказ / Order: {d.order_number}", 732, 1),
        _text(40, 955, 34, f"Вес / Weight: {kg(d.weight_g)} кг", 732, 1),
        _text(40, 1005, 30, f"Отправитель / Sender: {d.seller_name}", 732, 2),
        _text(40, 1100, 30, f"Склад / Warehouse: {d.warehouse}", 732, 2),
        "^XZ",
    ]
    return "\n".join(parts) + "\n"


def printer_font_zpl(font: Path = FONT_REGULAR) -> str:
    """``~DY`` that stores the TrueType font on the printer as E:DEJAVU.TTF (send once)."""
    data = font.read_bytes()
    return f"~DY{ZPL_FONT.rsplit('.', 1)[0]},A,T,{len(data)},,{binascii.hexlify(data).decode().upper()}\n"


# ---------------------------------------------------------------- PDF

def register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans (regular, bold) with ReportLab once; their names."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT_REGULAR)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONT_BOLD)))
    return "DejaVuSans", "DejaVuSans-Bold"


def _wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    words, lines, cur = _clean(text).split(), [], ""
    for w in words:
        trial = f"{cur} {w}".strip()
        if stringWidth(trial, font, size) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    out = lines[:max_lines]
    # a single word wider than the line is cut to fit
    return [_fit(line, font, size, width) for line in out]


def _fit(line: str, font: str, size: float, width: float) -> str:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while line and stringWidth(line, font, size) > width:
        line = line[:-1]
    return line


def shipping_label_pdf(d: LabelData) -> bytes:
    """The label as a one-page PDF, 100 x 150 mm."""
    _validate(d)
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    regular, bold = register_fonts()
    buf = io.BytesIO()
    w, h = 100 * mm, 150 * mm
    c = canvas.Canvas(buf, pagesize=(w, h), pageCompression=1)
    c.setTitle(f"{d.carrier} {d.tracking}")
    left, inner = 5 * mm, 90 * mm
    y = h - 12 * mm
    c.setFont(bold, 16)
    c.drawString(left, y, _fit(_clean(d.carrier), bold, 16, 65 * mm))
    c.drawRightString(w - left, y, f"{d.parcel_no}/{d.parcel_count}")
    y -= 5 * mm
    c.line(left, y, w - left, y)
    y -= 6 * mm
    c.setFont(regular, 8)
    c.drawString(left, y, "Получатель / Recipient")
    y -= 6 * mm
    for line in _wrap(d.recipient_name, bold, 13, inner, 2):
        c.setFont(bold, 13)
        c.drawString(left, y, line)
        y -= 6 * mm
    c.setFont(regular, 11)
    c.drawString(left, y, _fit(_clean(d.recipient_phone), regular, 11, inner))
    y -= 6 * mm
    for line in _wrap(d.address, regular, 10, inner, 3):
        c.setFont(regular, 10)
        c.drawString(left, y, line)
        y -= 5 * mm
    c.setFont(bold, 12)
    c.drawString(left, y, _fit(_clean(d.city), bold, 12, inner))
    y -= 4 * mm
    c.line(left, y, w - left, y)
    bar_w = 0.42 * mm if code128_modules(d.tracking) * 0.42 * mm <= inner else inner / code128_modules(d.tracking)
    barcode = Code128(d.tracking, barHeight=25 * mm, barWidth=bar_w, quiet=True, lquiet=5 * mm, rquiet=5 * mm)
    y -= 30 * mm
    barcode.drawOn(c, (w - barcode.width) / 2, y)
    y -= 5 * mm
    c.setFont(regular, 11)
    c.drawCentredString(w / 2, y, d.tracking)
    y -= 4 * mm
    c.line(left, y, w - left, y)
    y -= 6 * mm
    for label, value in (("Заказ / Order", d.order_number), ("Вес / Weight", f"{kg(d.weight_g)} кг"),
                         ("Отправитель / Sender", d.seller_name), ("Склад / Warehouse", d.warehouse)):
        c.setFont(regular, 9)
        c.drawString(left, y, _fit(f"{label}: {_clean(value)}", regular, 9, inner))
        y -= 5 * mm
    c.showPage()
    c.save()
    return buf.getvalue()


# The documents live in documents.py; re-exported here so `floor.adapters.labels` offers all of them.
from qoima.floor.adapters.documents import (  # noqa: E402,F401
    ManifestDoc, ManifestParcel, PackingSlip, SlipLine, manifest_pdf, packing_slip_pdf)
